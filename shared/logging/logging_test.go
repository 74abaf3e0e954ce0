package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
		bad  bool
	}{
		{"", slog.LevelInfo, false}, {"INFO", slog.LevelInfo, false}, {"info", slog.LevelInfo, false},
		{"DEBUG", slog.LevelDebug, false}, {"NOTSET", slog.LevelDebug, false},
		{"WARNING", slog.LevelWarn, false}, {"warn", slog.LevelWarn, false},
		{"ERROR", slog.LevelError, false}, {"CRITICAL", LevelCritical, false}, {"FATAL", LevelCritical, false},
		{"10", slog.LevelDebug, false}, {"20", slog.LevelInfo, false}, {"30", slog.LevelWarn, false},
		{"40", slog.LevelError, false}, {"50", LevelCritical, false},
		{"loud", slog.LevelInfo, true},
	}
	for _, tt := range tests {
		got, err := ParseLevel(tt.in)
		if got != tt.want || (err != nil) != tt.bad || (tt.bad && !errors.Is(err, ErrLevel)) {
			t.Errorf("ParseLevel(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		bad  bool
	}{
		{"", FormatSKA, false}, {"ska", FormatSKA, false}, {" SKA ", FormatSKA, false},
		{"json", FormatJSON, false}, {"JSON", FormatJSON, false},
		{"text", FormatSKA, true}, {"ska|json", FormatSKA, true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if got != tt.want || (err != nil) != tt.bad {
			t.Errorf("ParseFormat(%q) = %v, %v", tt.in, got, err)
		}
		if tt.bad && (!errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "ska, json")) {
			t.Errorf("ParseFormat(%q) error %v: want ErrFormat naming the choices", tt.in, err)
		}
	}
	lookup := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			if k == FormatEnv {
				return v, true
			}
			return "", false
		}
	}
	if f, err := FormatFromEnv(lookup("json")); f != FormatJSON || err != nil {
		t.Errorf("FormatFromEnv(json) = %v, %v", f, err)
	}
	if f, err := FormatFromEnv(func(string) (string, bool) { return "", false }); f != FormatSKA || err != nil {
		t.Errorf("FormatFromEnv(unset) = %v, %v", f, err)
	}
}

func TestNewJSON(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Options{Level: slog.LevelWarn, Format: FormatJSON, Service: "svc"})
	l.Info("hidden")
	l.Warn("shown", "deployment", "d1")
	l.Log(t.Context(), LevelCritical, "bad")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %s", len(lines), buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal(lines[0], &m); err != nil {
		t.Fatal(err)
	}
	if m["msg"] != "shown" || m["service"] != "svc" || m["deployment"] != "d1" || m["level"] != "WARN" {
		t.Errorf("line: %v", m)
	}
	if _, ok := m["source"]; ok {
		t.Errorf("JSON line gained a source field: %v", m)
	}
	if err := json.Unmarshal(lines[1], &m); err != nil || m["level"] != "CRITICAL" {
		t.Errorf("critical line: %v %v", m, err)
	}
}

func TestNewDefaultsToSKA(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, Options{Service: "svc"})
	l.Debug("hidden")
	l.Info("shown", "deployment", "d1")
	line := strings.TrimSuffix(buf.String(), "\n")
	f := strings.Split(line, "|")
	if strings.Count(buf.String(), "\n") != 1 || len(f) != 8 {
		t.Fatalf("want one line of 8 fields, got %q", buf.String())
	}
	if f[0] != "1" || f[2] != "INFO" || f[6] != "service:svc" || f[7] != "shown deployment=d1" {
		t.Errorf("line %q", line)
	}
}

// ForService reports a bad setting in the logs and carries on with the
// default in its place.
func TestForServiceBadSettings(t *testing.T) {
	env := func(format string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			if k == FormatEnv {
				return format, true
			}
			return "", false
		}
	}
	tests := []struct {
		name, level, format string
		wantWarn            []string
		wantJSON            bool
	}{
		{"good", "DEBUG", "json", nil, true},
		{"bad level", "loud", "json", []string{`SDP_LOG_LEVEL=\"loud\"`}, true},
		{"bad format", "INFO", "xml", []string{`SDP_LOG_FORMAT=\"xml\": not a log format (ska, json); using ska`}, false},
		{"both bad", "loud", "xml", []string{"SDP_LOG_LEVEL", "SDP_LOG_FORMAT"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := ForService(&buf, "svc", tt.level, env(tt.format))
			l.Info("after")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != len(tt.wantWarn)+1 {
				t.Fatalf("got %d lines, want %d warnings and a line: %s", len(lines), len(tt.wantWarn), buf.String())
			}
			for i, want := range tt.wantWarn {
				if !strings.Contains(lines[i], "logging setting ignored") || !strings.Contains(lines[i], want) {
					t.Errorf("warning %d = %q, want it to hold %q", i, lines[i], want)
				}
			}
			last := lines[len(lines)-1]
			if isJSON := json.Valid([]byte(last)); isJSON != tt.wantJSON {
				t.Errorf("line %q: JSON %v, want %v", last, isJSON, tt.wantJSON)
			}
		})
	}
}
