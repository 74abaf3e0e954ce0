package servicetest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// GoldenTime is the time of every record in the log golden files.
var GoldenTime = time.Date(2026, 12, 1, 21, 6, 51, 123456789, time.UTC)

// ForService builds a service's logger from its settings, as
// logging.ForService does; taken as a function so that the test kit
// requires nothing of the product.
type ForService func(w io.Writer, service, level string, lookup func(string) (string, bool)) *slog.Logger

// CheckLogGolden makes calls through the logger a service builds for
// itself (forService, with the service's name, at DEBUG) in each format
// SDP_LOG_FORMAT names, with every record's time set to GoldenTime, and
// compares what was written with testdata/log.<format>.golden beside the
// test. With SDP_UPDATE_GOLDEN=1 it writes the files instead.
func CheckLogGolden(t *testing.T, forService ForService, service string, calls func(log *slog.Logger)) {
	t.Helper()
	for _, format := range []string{"ska", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log := forService(&buf, service, "DEBUG", func(k string) (string, bool) {
				if k == "SDP_LOG_FORMAT" {
					return format, true
				}
				return "", false
			})
			calls(slog.New(fixedTime{log.Handler()}))
			path := filepath.Join("testdata", "log."+format+".golden")
			if os.Getenv("SDP_UPDATE_GOLDEN") == "1" {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (SDP_UPDATE_GOLDEN=1 writes it)", err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("%s log differs from %s (SDP_UPDATE_GOLDEN=1 rewrites it)\ngot:\n%s\nwant:\n%s", format, path, got, want)
			}
		})
	}
}

// fixedTime sets each record's time, as a fixed clock would.
type fixedTime struct{ slog.Handler }

func (h fixedTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = GoldenTime
	return h.Handler.Handle(ctx, r)
}

func (h fixedTime) WithAttrs(attrs []slog.Attr) slog.Handler {
	return fixedTime{h.Handler.WithAttrs(attrs)}
}

func (h fixedTime) WithGroup(name string) slog.Handler { return fixedTime{h.Handler.WithGroup(name)} }
