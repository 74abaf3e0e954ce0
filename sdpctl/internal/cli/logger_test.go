package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The CLI's own log lines (the store's warnings) follow SDP_LOG_FORMAT, as
// the services' do; a bad value is reported and SKA lines are written.
func TestLoggerFormat(t *testing.T) {
	tests := []struct {
		name, format string
		set          bool
		wantJSON     bool
		wantReport   bool
	}{
		{"unset: SKA", "", false, false, false},
		{"ska", "ska", true, false, false},
		{"json", "json", true, true, false},
		{"bad: reported, SKA", "xml", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			a := &app{stderr: &stderr, lookupEnv: func(k string) (string, bool) {
				if k == "SDP_LOG_FORMAT" && tt.set {
					return tt.format, true
				}
				return "", false
			}}
			log := a.logger()
			log.Info("not shown")
			log.Warn("watch interrupted; resuming", "key", "/deploy/")
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			want := 1
			if tt.wantReport {
				want = 2
				if !strings.Contains(lines[0], "SDP_LOG_FORMAT") || !strings.Contains(lines[0], "ska, json") {
					t.Errorf("bad format not reported: %q", lines[0])
				}
			}
			if len(lines) != want {
				t.Fatalf("%d lines, want %d: %s", len(lines), want, stderr.String())
			}
			last := lines[len(lines)-1]
			if tt.wantJSON {
				var m map[string]any
				if err := json.Unmarshal([]byte(last), &m); err != nil || m["level"] != "WARN" || m["service"] != "sdpctl" {
					t.Errorf("want a JSON warning from sdpctl, got %q (%v)", last, err)
				}
				return
			}
			f := strings.Split(last, "|")
			if len(f) != 8 || f[0] != "1" || f[2] != "WARNING" || f[6] != "service:sdpctl" || f[7] != "watch interrupted; resuming key=/deploy/" {
				t.Errorf("want an SKA warning line from sdpctl, got %q", last)
			}
		})
	}
}
