// Package logging builds the services' loggers, in the SKA logging
// standard's line format (the default, as the Python deployer logs, and as
// SKA's log pipeline parses) or as JSON objects, chosen by SDP_LOG_FORMAT.
//
// # The SKA format
//
// One line a record, eight fields separated by '|', for example
//
//	1|2026-12-01T21:06:51.123Z|INFO||reconciler.(*Reconciler).reconcile|reconciler.go#212|service:release-manager|helm action done deployment=x action=install
//
// The fields, in order:
//
//   - VERSION is 1, the version of the standard this follows.
//   - TIMESTAMP is the record's time in UTC, to the millisecond, with Z.
//   - SEVERITY is Python's level name: DEBUG, INFO, WARNING, ERROR or
//     CRITICAL. A slog level between two of them takes the lower name.
//   - THREAD-ID is empty: goroutines have no names, and a constant such as
//     "MainThread" would claim every line came from one thread. The
//     standard makes the field optional and leaves it empty in its examples.
//   - FUNCTION is the calling function, qualified by its package name only
//     (the import path before it is dropped, as Python drops the file
//     path): "reconciler.(*Reconciler).reconcile", "main.main".
//   - LINE-LOC is the caller's file name and line: "reconciler.go#212".
//     FUNCTION and LINE-LOC are empty for a record without a caller.
//   - TAGS are comma-separated key:value pairs; the service name is one,
//     "service:release-manager".
//   - MESSAGE is the record's constant message followed by its attributes
//     as key=value pairs separated by spaces, in the order they were given
//     (logger attributes first). Attributes of a group are flattened with
//     dotted keys ("pod.name=x").
//
// The JSON format is as it was: slog's level names (WARN, and CRITICAL
// above ERROR), the "service" attribute, no source. Both formats carry the
// same attributes.
//
// # Escaping
//
// Each line stays one line with exactly eight fields, whatever the values
// hold, because the pipeline splits on '|' and on newlines:
//
//   - An attribute value (or key) is quoted as a Go string literal when it is
//     empty or holds a space, '=', '"', '|' or a character that is not
//     printable (newlines, tabs, invalid UTF-8); within quotes '|' is
//     written \x7c. strconv.Unquote gives the value back.
//   - In the message text, '\' becomes \\, '|' becomes \x7c and characters
//     that are not printable take Go's escapes (\n, \t, \x00, \u2028), so
//     the text is read back by unquoting it.
//   - A tag value is quoted as an attribute value is, with ',' and ':' also
//     calling for quotes and ',' written \x2c within them.
//
// service builds every main's logger with it; docs/architecture.md, §1. The rooms.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// LevelCritical is Python's CRITICAL, above slog's ERROR.
const LevelCritical = slog.LevelError + 4

// ErrLevel and ErrFormat are wrapped by the errors of a setting that is not
// a log level or not a log format.
var (
	ErrLevel  = errors.New("not a log level")
	ErrFormat = errors.New("not a log format")
)

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
	return slog.LevelInfo, fmt.Errorf("SDP_LOG_LEVEL=%q: %w (DEBUG, INFO, WARNING, ERROR, CRITICAL); using INFO", s, ErrLevel)
}

// Format is a log line layout.
type Format string

// The formats SDP_LOG_FORMAT chooses from.
const (
	// FormatSKA is the SKA logging standard's '|'-separated line.
	FormatSKA Format = "ska"
	// FormatJSON is one JSON object a line, as slog's JSON handler writes.
	FormatJSON Format = "json"
)

// FormatEnv names the setting that chooses the format.
const FormatEnv = "SDP_LOG_FORMAT"

// ParseFormat reads SDP_LOG_FORMAT: ska (the default, also when empty) or
// json, in any case. A bad value is an error naming the choices, returned
// with the default.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "":
		return FormatSKA, nil
	case FormatSKA, FormatJSON:
		return f, nil
	}
	return FormatSKA, fmt.Errorf("%s=%q: %w (%s, %s); using %s", FormatEnv, s, ErrFormat, FormatSKA, FormatJSON, FormatSKA)
}

// FormatFromEnv reads SDP_LOG_FORMAT through lookup (os.LookupEnv).
func FormatFromEnv(lookup func(string) (string, bool)) (Format, error) {
	v, _ := lookup(FormatEnv)
	return ParseFormat(v)
}

// Options say how New builds a logger.
type Options struct {
	// Level is the lowest level written (default INFO).
	Level slog.Leveler
	// Format is the line layout (default SKA).
	Format Format
	// Service names the program: a tag in the SKA format, the "service"
	// attribute in JSON. Empty: none.
	Service string
	// ReplaceAttr is slog.HandlerOptions.ReplaceAttr, for both formats. In
	// the SKA format it sees the time (key slog.TimeKey) and the record's
	// attributes; the level, source and message are not offered to it.
	ReplaceAttr func(groups []string, a slog.Attr) slog.Attr
}

// New returns a logger writing to w as o says.
func New(w io.Writer, o Options) *slog.Logger {
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	if o.Format == FormatJSON {
		replace := o.ReplaceAttr
		h := slog.NewJSONHandler(w, &slog.HandlerOptions{
			Level: o.Level,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if a.Key == slog.LevelKey && len(groups) == 0 {
					if l, ok := a.Value.Any().(slog.Level); ok && l >= LevelCritical {
						a.Value = slog.StringValue("CRITICAL")
					}
				}
				if replace != nil {
					a = replace(groups, a)
				}
				return a
			},
		})
		l := slog.New(h)
		if o.Service != "" {
			l = l.With("service", o.Service)
		}
		return l
	}
	var tags []Tag
	if o.Service != "" {
		tags = append(tags, Tag{Key: "service", Value: o.Service})
	}
	return slog.New(NewSKAHandler(w, &SKAOptions{Level: o.Level, Tags: tags, ReplaceAttr: o.ReplaceAttr}))
}

// ForService builds a service's logger from its SDP_LOG_LEVEL value (level)
// and SDP_LOG_FORMAT (read through lookup). A bad setting is logged as a
// warning through the logger built with the default in its place, so that
// the report is seen where the service's logs are read; the service runs on.
func ForService(w io.Writer, service, level string, lookup func(string) (string, bool)) *slog.Logger {
	lvl, levelErr := ParseLevel(level)
	format, formatErr := FormatFromEnv(lookup)
	log := New(w, Options{Level: lvl, Format: format, Service: service})
	for _, err := range []error{levelErr, formatErr} {
		if err != nil {
			log.Warn("logging setting ignored", "error", err)
		}
	}
	return log
}
