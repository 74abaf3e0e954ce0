package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// The services' tests read these lines back with servicetest's parser; it
// must read both formats as the handlers here write them.
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
	for _, format := range []Format{FormatSKA, FormatJSON} {
		var buf bytes.Buffer
		l := New(&buf, Options{Format: format, Service: "svc"})
		for _, c := range calls {
			l.Warn(c.msg, c.args...)
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != len(calls) {
			t.Fatalf("%s: %d lines for %d calls", format, len(lines), len(calls))
		}
		for i, c := range calls {
			got, err := servicetest.ParseLogLine(lines[i])
			if err != nil {
				t.Errorf("%s: %v", format, err)
				continue
			}
			wantLevel := map[Format]string{FormatSKA: "WARNING", FormatJSON: "WARN"}[format]
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
