// Package logging builds the services' structured JSON loggers.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// LevelCritical is Python's CRITICAL, above slog's ERROR.
const LevelCritical = slog.LevelError + 4

// ParseLevel reads SDP_LOG_LEVEL. Python's level names (DEBUG, INFO,
// WARNING, ERROR, CRITICAL, and FATAL, WARN, NOTSET) and numbers (10, 20,
// 30, 40, 50) are accepted, in any case, so existing settings carry over.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "INFO":
		return slog.LevelInfo, nil
	case "NOTSET", "DEBUG", "TRACE":
		return slog.LevelDebug, nil
	case "WARNING", "WARN":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	case "CRITICAL", "FATAL":
		return LevelCritical, nil
	}
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		switch {
		case n <= 10:
			return slog.LevelDebug, nil
		case n <= 20:
			return slog.LevelInfo, nil
		case n <= 30:
			return slog.LevelWarn, nil
		case n <= 40:
			return slog.LevelError, nil
		default:
			return LevelCritical, nil
		}
	}
	return slog.LevelInfo, fmt.Errorf("SDP_LOG_LEVEL=%q: not a level (DEBUG, INFO, WARNING, ERROR, CRITICAL)", s)
}

// New returns a JSON logger at the given level that tags every line with
// the service name.
func New(w io.Writer, level, service string) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: lvl,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey {
				if l, ok := a.Value.Any().(slog.Level); ok && l >= LevelCritical {
					a.Value = slog.StringValue("CRITICAL")
				}
			}
			return a
		},
	})
	// A bad level is reported, and the logger still works at INFO, so the
	// report is seen.
	return slog.New(h).With("service", service), err
}
