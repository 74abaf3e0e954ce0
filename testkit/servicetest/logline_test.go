package servicetest

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/logging"
)

// The parser reads back what the services' logger writes, in both formats.
func TestParseLogLineReadsBothFormats(t *testing.T) {
	calls := []struct {
		msg  string
		args []any
		want map[string]string
	}{
		{"serving metrics and health", []any{"addr", "127.0.0.1:4321"}, map[string]string{"addr": "127.0.0.1:4321"}},
		{"reconcile failed; not retrying until the input changes", []any{"deployment", "d1", "error", errors.New(`chart "x|y": not found`)},
			map[string]string{"deployment": "d1", "error": `chart "x|y": not found`}},
		{"a=b looks like a pair", []any{"k", "a b=c", "n", 3}, map[string]string{"k": "a b=c", "n": "3"}},
		{"no attrs", nil, map[string]string{}},
		{"grouped", []any{slog.Group("pod", "name", "p")}, map[string]string{"pod.name": "p"}},
	}
	for _, format := range []logging.Format{logging.FormatSKA, logging.FormatJSON} {
		var buf bytes.Buffer
		l := logging.New(&buf, logging.Options{Format: format, Service: "svc"})
		for _, c := range calls {
			l.Warn(c.msg, c.args...)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != len(calls) {
			t.Fatalf("%s: %d lines for %d calls", format, len(lines), len(calls))
		}
		for i, c := range calls {
			got, err := ParseLogLine(lines[i])
			if err != nil {
				t.Errorf("%s: %v", format, err)
				continue
			}
			wantLevel := map[logging.Format]string{logging.FormatSKA: "WARNING", logging.FormatJSON: "WARN"}[format]
			if got.Format != string(format) || got.Msg != c.msg || got.Service != "svc" || got.Level != wantLevel || got.Time.IsZero() {
				t.Errorf("%s line %q read as %+v", format, lines[i], got)
			}
			if len(got.Attrs) != len(c.want) {
				t.Errorf("%s line %q: attrs %v, want %v", format, lines[i], got.Attrs, c.want)
			}
			for k, v := range c.want {
				if got.Attrs[k] != v {
					t.Errorf("%s line %q: %s=%q, want %q", format, lines[i], k, got.Attrs[k], v)
				}
			}
		}
	}
}

func TestParseLogLineRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"plain text",
		"{not json",
		`{"time":"2026-12-01T21:06:51Z","msg":"no level"}`,
		"1|2026-12-01T21:06:51.123Z|INFO||f|f.go#1|service:x",
		"2|2026-12-01T21:06:51.123Z|INFO||f|f.go#1|service:x|m",
		"1|yesterday|INFO||f|f.go#1|service:x|m",
		"1|2026-12-01T21:06:51.123Z|WARN||f|f.go#1|service:x|m",
		"1|2026-12-01T21:06:51.123Z|INFO||f|f.go#1|service|m",
		`1|2026-12-01T21:06:51.123Z|INFO||f|f.go#1|service:x|bad escape \q`,
	} {
		if l, err := ParseLogLine(line); !errors.Is(err, ErrNotLogLine) {
			t.Errorf("ParseLogLine(%q) = %+v, %v; want ErrNotLogLine", line, l, err)
		}
	}
}
