package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 21, 6, 51, 123456789, time.FixedZone("CET", 3600))

// fixedTime sets every record's time, as the golden tests do.
func fixedTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Time(slog.TimeKey, t0)
	}
	return a
}

func skaLogger(buf *bytes.Buffer, tags ...Tag) *slog.Logger {
	return slog.New(NewSKAHandler(buf, &SKAOptions{Level: slog.LevelDebug, Tags: tags, ReplaceAttr: fixedTime}))
}

// fields splits a single SKA line into its eight fields.
func fields(t *testing.T, out string) []string {
	t.Helper()
	line, ok := strings.CutSuffix(out, "\n")
	if !ok || strings.ContainsAny(line, "\n\r") {
		t.Fatalf("want one line ending in a newline, got %q", out)
	}
	f := strings.Split(line, "|")
	if len(f) != 8 {
		t.Fatalf("want 8 fields, got %d: %q", len(f), line)
	}
	return f
}

func TestSKALine(t *testing.T) {
	var buf bytes.Buffer
	l := skaLogger(&buf, Tag{"service", "release-manager"})
	_, file, line, _ := runtime.Caller(0)
	l.Info("helm action done", "deployment", "x", "action", "install")
	want := fmt.Sprintf("1|2026-12-01T20:06:51.123Z|INFO||logging.TestSKALine|%s#%d|service:release-manager|helm action done deployment=x action=install\n",
		file[strings.LastIndexByte(file, '/')+1:], line+1)
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

func TestSKAFunctionOfMethodAndClosure(t *testing.T) {
	var buf bytes.Buffer
	l := skaLogger(&buf)
	func() { l.Info("m") }()
	if f := fields(t, buf.String()); f[4] != "logging.TestSKAFunctionOfMethodAndClosure.func1" {
		t.Errorf("function %q", f[4])
	}
	buf.Reset()
	h := NewSKAHandler(&buf, nil)
	if err := h.Handle(t.Context(), slog.NewRecord(t0, slog.LevelInfo, "no caller", 0)); err != nil {
		t.Fatal(err)
	}
	if f := fields(t, buf.String()); f[4] != "" || f[5] != "" || f[6] != "" {
		t.Errorf("record without caller: %q", f)
	}
}

func TestSKALevels(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug - 4, "DEBUG"}, {slog.LevelDebug, "DEBUG"}, {slog.LevelInfo - 1, "DEBUG"},
		{slog.LevelInfo, "INFO"}, {slog.LevelInfo + 2, "INFO"},
		{slog.LevelWarn, "WARNING"}, {slog.LevelError, "ERROR"}, {LevelCritical - 1, "ERROR"},
		{LevelCritical, "CRITICAL"}, {LevelCritical + 8, "CRITICAL"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		slog.New(NewSKAHandler(&buf, &SKAOptions{Level: slog.Level(-100)})).Log(t.Context(), tt.level, "m")
		if f := fields(t, buf.String()); f[2] != tt.want {
			t.Errorf("level %v written %q, want %q", tt.level, f[2], tt.want)
		}
	}
	var buf bytes.Buffer
	l := slog.New(NewSKAHandler(&buf, &SKAOptions{Level: slog.LevelWarn}))
	l.Info("hidden")
	l.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
		t.Errorf("level filter: %q", buf.String())
	}
}

type text string

func (t text) MarshalText() ([]byte, error) { return []byte("T:" + string(t)), nil }

type boom struct{}

func (*boom) Error() string { panic("boom") }

func TestSKAMessageAndValues(t *testing.T) {
	var nilBoom *boom
	tests := []struct {
		name string
		msg  string
		args []any
		want string
	}{
		{"plain", "done", []any{"n", 3, "ok", true, "d", 1500 * time.Millisecond}, "done n=3 ok=true d=1.5s"},
		{"space quoted", "m", []any{"k", "a b"}, `m k="a b"`},
		{"empty quoted", "m", []any{"k", ""}, `m k=""`},
		{"equals quoted", "m", []any{"k", "a=b"}, `m k="a=b"`},
		{"quote quoted", "m", []any{"k", `say "hi"`}, `m k="say \"hi\""`},
		{"pipe escaped", "m", []any{"k", "a|b"}, `m k="a\x7cb"`},
		{"newline escaped", "m", []any{"k", "a\nb\r\tc"}, `m k="a\nb\r\tc"`},
		{"line separator escaped", "m", []any{"k", "a\u2028b"}, `m k="a\u2028b"`},
		{"invalid utf8 escaped", "m", []any{"k", "a\xffb"}, `m k="a\xffb"`},
		{"unicode bare", "m", []any{"k", "größe"}, `m k=größe`},
		{"backslash bare", "m", []any{"k", `a\b`}, `m k=a\b`},
		{"error", "failed", []any{"error", errors.New("get x: not found")}, `failed error="get x: not found"`},
		{"text marshaler", "m", []any{"k", text("v")}, `m k=T:v`},
		{"nil pointer", "m", []any{"k", nilBoom}, `m k=<nil>`},
		{"panicking error", "m", []any{"k", &boom{}}, `m k="!PANIC: boom"`},
		{"time", "m", []any{"at", t0}, `m at=2026-12-01T21:06:51.123456789+01:00`},
		{"key quoted", "m", []any{"a key", 1}, `m "a key"=1`},
		{"message pipe", "a|b", nil, `a\x7cb`},
		{"message newline", "line1\nline2\r", nil, `line1\nline2\r`},
		{"message backslash", `C:\dir "q"`, nil, `C:\\dir "q"`},
		{"message control", "a\x00b\x1bc", nil, `a\x00b\x1bc`},
		{"message invalid utf8", "a\xc3", nil, `a\xc3`},
		{"group", "m", []any{slog.Group("pod", "name", "p", "phase", "Running")}, "m pod.name=p pod.phase=Running"},
		{"empty group dropped", "m", []any{slog.Group("g"), "k", 1}, "m k=1"},
		{"inline group", "m", []any{slog.Group("", "k", 1)}, "m k=1"},
		{"bad key", "m", []any{"odd"}, "m !BADKEY=odd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			skaLogger(&buf).Info(tt.msg, tt.args...)
			if f := fields(t, buf.String()); f[7] != tt.want {
				t.Errorf("message field %s\nwant          %s", f[7], tt.want)
			}
		})
	}
}

func TestSKATags(t *testing.T) {
	tests := []struct {
		tags []Tag
		want string
	}{
		{nil, ""},
		{[]Tag{{"service", "pod-monitor"}}, "service:pod-monitor"},
		{[]Tag{{"service", "a"}, {"tango-device", "my/dev/name"}}, "service:a,tango-device:my/dev/name"},
		{[]Tag{{"service", "a,b:c|d"}}, `service:"a\x2cb:c\x7cd"`},
		{[]Tag{{"service", "x\ny"}}, `service:"x\ny"`},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		skaLogger(&buf, tt.tags...).Info("m")
		if f := fields(t, buf.String()); f[6] != tt.want {
			t.Errorf("tags %v written %q, want %q", tt.tags, f[6], tt.want)
		}
	}
}

func TestSKAWithAttrsAndGroups(t *testing.T) {
	var buf bytes.Buffer
	base := skaLogger(&buf)
	l := base.With("component", "client-go").WithGroup("g").With("a", 1)
	l.Info("m", "b", 2, slog.Group("h", "c", 3))
	l.WithGroup("empty").Info("n")
	base.Info("o")
	lines := strings.SplitAfter(buf.String(), "\n")
	want := []string{"m component=client-go g.a=1 g.b=2 g.h.c=3", "n component=client-go g.a=1", "o"}
	for i, w := range want {
		if f := fields(t, lines[i]); f[7] != w {
			t.Errorf("line %d message %q, want %q", i, f[7], w)
		}
	}
}

func TestSKAReplaceAttr(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewSKAHandler(&buf, &SKAOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		switch {
		case a.Key == slog.TimeKey && len(groups) == 0:
			return slog.String(slog.TimeKey, "not a time")
		case a.Key == "secret":
			return slog.Attr{}
		case a.Key == "k" && len(groups) == 1 && groups[0] == "g":
			return slog.String("k", "replaced")
		}
		return a
	}}))
	before := time.Now().UTC().Truncate(time.Millisecond)
	l.WithGroup("g").Info("m", "secret", "x", "k", "v")
	f := fields(t, buf.String())
	if f[7] != "m g.k=replaced" {
		t.Errorf("message %q", f[7])
	}
	// A time replaced by something else is ignored: the field is compulsory.
	got, err := time.Parse("2006-01-02T15:04:05.000Z", f[1])
	if err != nil || got.Before(before) {
		t.Errorf("time %q: %v", f[1], err)
	}
}

// unescapeMessage reads the message text back: it is the body of a Go
// string literal, with '"' left bare.
func unescapeMessage(s string) (string, error) {
	return strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
}

// readValue reads a bare or quoted token from the start of s, up to stop
// for a bare one.
func readValue(s string, stop byte) (val, rest string, err error) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", err
		}
		v, err := strconv.Unquote(q)
		return v, s[len(q):], err
	}
	if i := strings.IndexByte(s, stop); i >= 0 {
		return s[:i], s[i:], nil
	}
	return s, "", nil
}

// FuzzSKAHandler: whatever the message, key, value and tag, the output is
// one line of eight fields, and each reads back to what was logged.
func FuzzSKAHandler(f *testing.F) {
	for _, s := range [][4]string{
		{"helm action done", "deployment", "x", "release-manager"},
		{"a|b", "k|", "v|w", "svc|1"},
		{"line\nbreak", "k\n", "v\r\nw", "s,t:u"},
		{"", "", "", ""},
		{"\xff\\\"", "a b", `\"`, "\u2028"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, msg, key, value, tag string) {
		var buf bytes.Buffer
		l := slog.New(NewSKAHandler(&buf, &SKAOptions{Tags: []Tag{{"service", tag}}}))
		l.Info(msg)
		l.Info("m", key, value)
		out := buf.String()
		if strings.Count(out, "\n") != 2 || !strings.HasSuffix(out, "\n") || strings.ContainsRune(out, '\r') {
			t.Fatalf("want two lines, got %q", out)
		}
		lines := strings.SplitAfter(out, "\n")
		f1, f2 := fields(t, lines[0]), fields(t, lines[1])
		for _, f := range [][]string{f1, f2} {
			if f[0] != "1" || f[2] != "INFO" || f[3] != "" || !strings.HasPrefix(f[5], "ska_test.go#") {
				t.Errorf("fixed fields %q", f)
			}
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", f[1]); err != nil {
				t.Errorf("time %q: %v", f[1], err)
			}
			tk, rest, err := readValue(f[6], ':')
			if err != nil || tk != "service" || !strings.HasPrefix(rest, ":") {
				t.Fatalf("tag %q: %v", f[6], err)
			}
			tv, rest, err := readValue(rest[1:], ',')
			if err != nil || tv != tag || rest != "" {
				t.Errorf("tag %q read back %q (rest %q, %v), want %q", f[6], tv, rest, err, tag)
			}
		}
		if got, err := unescapeMessage(f1[7]); err != nil || got != msg {
			t.Errorf("message %q read back %q (%v), want %q", f1[7], got, err, msg)
		}
		rest, ok := strings.CutPrefix(f2[7], "m ")
		if !ok {
			t.Fatalf("message %q", f2[7])
		}
		k, rest, err := readValue(rest, '=')
		if err != nil || !strings.HasPrefix(rest, "=") {
			t.Fatalf("key in %q: %v", f2[7], err)
		}
		v, rest, err := readValue(rest[1:], ' ')
		if err != nil || k != key || v != value || rest != "" {
			t.Errorf("attr %q read back %q=%q (rest %q, %v), want %q=%q", f2[7], k, v, rest, err, key, value)
		}
	})
}
