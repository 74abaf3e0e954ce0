package servicetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LogLine is one line of a service's log, read from either format the
// services write (SDP_LOG_FORMAT=ska or json).
type LogLine struct {
	// Format is "ska" or "json".
	Format string
	Time   time.Time
	// Level as written: DEBUG, INFO, WARNING (WARN in JSON), ERROR,
	// CRITICAL.
	Level string
	Msg   string
	// Service is the "service" tag (SKA) or attribute (JSON).
	Service string
	// Function and LineLoc are the SKA caller fields ("" in JSON).
	Function, LineLoc string
	// Attrs are the other attributes as text; nested JSON objects are
	// flattened with dotted keys, as the SKA format writes groups.
	Attrs map[string]string
}

// ErrNotLogLine is wrapped by ParseLogLine's errors.
var ErrNotLogLine = errors.New("not a log line")

// skaLevels are the standard's level names.
var skaLevels = map[string]bool{"DEBUG": true, "INFO": true, "WARNING": true, "ERROR": true, "CRITICAL": true}

// ParseLogLine reads one log line of either format: a JSON object, or an
// SKA line of eight '|'-separated fields.
func ParseLogLine(line string) (LogLine, error) {
	if strings.HasPrefix(line, "{") {
		return parseJSONLine(line)
	}
	return parseSKALine(line)
}

func parseJSONLine(line string) (LogLine, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return LogLine{}, fmt.Errorf("%w: JSON: %v: %q", ErrNotLogLine, err, line)
	}
	l := LogLine{Format: "json", Attrs: map[string]string{}}
	ts, _ := m["time"].(string)
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return l, fmt.Errorf("%w: JSON time %q: %v", ErrNotLogLine, ts, err)
	}
	l.Time = t
	l.Level, _ = m["level"].(string)
	l.Msg, _ = m["msg"].(string)
	l.Service, _ = m["service"].(string)
	if l.Level == "" || m["msg"] == nil {
		return l, fmt.Errorf("%w: JSON without level or msg: %q", ErrNotLogLine, line)
	}
	for k, v := range m {
		switch k {
		case "time", "level", "msg", "service":
			continue
		}
		flattenJSON(l.Attrs, k, v)
	}
	return l, nil
}

func flattenJSON(dst map[string]string, key string, v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			flattenJSON(dst, key+"."+k, x)
		}
	case string:
		dst[key] = v
	default:
		b, _ := json.Marshal(v)
		dst[key] = string(b)
	}
}

func parseSKALine(line string) (LogLine, error) {
	f := strings.Split(line, "|")
	if len(f) != 8 {
		return LogLine{}, fmt.Errorf("%w: %d '|'-separated fields, want 8: %q", ErrNotLogLine, len(f), line)
	}
	l := LogLine{Format: "ska", Level: f[2], Function: f[4], LineLoc: f[5], Attrs: map[string]string{}}
	if f[0] != "1" {
		return l, fmt.Errorf("%w: version %q, want 1: %q", ErrNotLogLine, f[0], line)
	}
	t, err := time.Parse("2006-01-02T15:04:05.000Z", f[1])
	if err != nil {
		return l, fmt.Errorf("%w: time %q: %v", ErrNotLogLine, f[1], err)
	}
	l.Time = t
	if !skaLevels[l.Level] {
		return l, fmt.Errorf("%w: level %q: %q", ErrNotLogLine, l.Level, line)
	}
	if f[6] != "" {
		for _, tag := range strings.Split(f[6], ",") {
			k, v, ok := strings.Cut(tag, ":")
			if !ok {
				return l, fmt.Errorf("%w: tag %q is not key:value", ErrNotLogLine, tag)
			}
			if k == "service" {
				if l.Service, err = unquoteIfQuoted(v); err != nil {
					return l, fmt.Errorf("%w: tag %q: %v", ErrNotLogLine, tag, err)
				}
			}
		}
	}
	// The message is constant text, then " key=value" pairs: it ends at the
	// first space after which the rest reads as pairs to the end.
	msg := f[7]
	for i := 0; i <= len(msg); i++ {
		if i < len(msg) && msg[i] != ' ' {
			continue
		}
		attrs, ok := parsePairs(msg[i:])
		if !ok {
			continue
		}
		if l.Msg, err = strconv.Unquote(`"` + strings.ReplaceAll(msg[:i], `"`, `\"`) + `"`); err != nil {
			return l, fmt.Errorf("%w: message %q: %v", ErrNotLogLine, msg[:i], err)
		}
		l.Attrs = attrs
		return l, nil
	}
	return l, fmt.Errorf("%w: message %q", ErrNotLogLine, msg)
}

// parsePairs reads s as " key=value" pairs to its end ("" is none).
func parsePairs(s string) (map[string]string, bool) {
	out := map[string]string{}
	for s != "" {
		if s[0] != ' ' {
			return nil, false
		}
		k, rest, ok := token(s[1:], '=')
		if !ok || !strings.HasPrefix(rest, "=") {
			return nil, false
		}
		v, rest, ok := token(rest[1:], ' ')
		if !ok {
			return nil, false
		}
		out[k], s = v, rest
	}
	return out, true
}

// token reads a quoted string, or bare text up to stop, from the start of
// s. Bare text holds no space, '=' or '"'.
func token(s string, stop byte) (string, string, bool) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", false
		}
		v, err := strconv.Unquote(q)
		return v, s[len(q):], err == nil
	}
	end := strings.IndexByte(s, stop)
	if end < 0 {
		end = len(s)
	}
	if end == 0 || strings.ContainsAny(s[:end], ` ="`) {
		return "", "", false
	}
	return s[:end], s[end:], true
}

func unquoteIfQuoted(s string) (string, error) {
	if strings.HasPrefix(s, `"`) {
		return strconv.Unquote(s)
	}
	return s, nil
}
