package servicetest

import (
	"errors"
	"testing"
)

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
