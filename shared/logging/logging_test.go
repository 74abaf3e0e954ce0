package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
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
		if got != tt.want || (err != nil) != tt.bad {
			t.Errorf("ParseLevel(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestNewWritesJSON(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, "WARNING", "svc")
	if err != nil {
		t.Fatal(err)
	}
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
	if err := json.Unmarshal(lines[1], &m); err != nil || m["level"] != "CRITICAL" {
		t.Errorf("critical line: %v %v", m, err)
	}
	if _, err := New(&buf, "loud", "svc"); err == nil {
		t.Error("bad level accepted")
	}
}
