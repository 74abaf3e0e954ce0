package logging

import (
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Tag is one key:value pair of the SKA format's TAGS field.
type Tag struct{ Key, Value string }

// SKAOptions configure an SKAHandler.
type SKAOptions struct {
	// Level is the lowest level written (default INFO).
	Level slog.Leveler
	// Tags are written on every line, in this order.
	Tags []Tag
	// ReplaceAttr is applied to the time (key slog.TimeKey, no groups) and
	// to every attribute, as in slog.HandlerOptions. A time it returns as
	// another kind than a time is ignored: the field is compulsory.
	ReplaceAttr func(groups []string, a slog.Attr) slog.Attr
}

// SKAHandler writes records as lines of the SKA logging standard; see the
// package documentation for the fields and escaping.
type SKAHandler struct {
	w    io.Writer
	mu   *sync.Mutex
	opts SKAOptions
	tags string
	// attrs are the logger's attributes, formatted once, each with its
	// leading space.
	attrs string
	// prefix is the dotted path of the open groups, "a.b." or "".
	prefix string
	groups []string
}

// NewSKAHandler returns a handler writing to w.
func NewSKAHandler(w io.Writer, opts *SKAOptions) *SKAHandler {
	h := &SKAHandler{w: w, mu: &sync.Mutex{}}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.Level == nil {
		h.opts.Level = slog.LevelInfo
	}
	tags := make([]string, 0, len(h.opts.Tags))
	for _, t := range h.opts.Tags {
		tags = append(tags, tagText(t.Key)+":"+tagText(t.Value))
	}
	h.tags = strings.Join(tags, ",")
	return h
}

// Enabled reports whether level is at or above the handler's level.
func (h *SKAHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.opts.Level.Level()
}

// WithAttrs returns a handler that writes attrs on every line.
func (h *SKAHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	b := []byte(h.attrs)
	for _, a := range attrs {
		b = h.appendAttr(b, h.prefix, h.groups, a)
	}
	h2.attrs = string(b)
	return &h2
}

// WithGroup returns a handler whose later attributes are keyed
// "name.<key>".
func (h *SKAHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	h2.groups = append(h.groups[:len(h.groups):len(h.groups)], name)
	return &h2
}

// Handle writes one line.
func (h *SKAHandler) Handle(_ context.Context, r slog.Record) error {
	b := make([]byte, 0, 256)
	b = append(b, "1|"...)
	b = appendTime(b, h.recordTime(r.Time))
	b = append(b, '|')
	b = append(b, LevelName(r.Level)...)
	// THREAD-ID: empty, see the package documentation.
	b = append(b, "||"...)
	if r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		b = appendEscaped(b, shortFunction(f.Function))
		b = append(b, '|')
		file := f.File
		if i := strings.LastIndexByte(file, '/'); i >= 0 {
			file = file[i+1:]
		}
		b = appendEscaped(b, file)
		b = append(b, '#')
		b = strconv.AppendInt(b, int64(f.Line), 10)
	} else {
		b = append(b, '|')
	}
	b = append(b, '|')
	b = append(b, h.tags...)
	b = append(b, '|')
	b = appendEscaped(b, r.Message)
	b = append(b, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		b = h.appendAttr(b, h.prefix, h.groups, a)
		return true
	})
	b = append(b, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b)
	return err
}

func (h *SKAHandler) recordTime(t time.Time) time.Time {
	if h.opts.ReplaceAttr == nil {
		return t
	}
	a := h.opts.ReplaceAttr(nil, slog.Time(slog.TimeKey, t))
	if v := a.Value.Resolve(); v.Kind() == slog.KindTime {
		return v.Time()
	}
	return t
}

// LevelName is the standard's (Python's) name of a level.
func LevelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	case l < LevelCritical:
		return "ERROR"
	}
	return "CRITICAL"
}

func appendTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
}

// shortFunction drops the import path before the package name:
// "example.com/a/pkg.(*T).m" becomes "pkg.(*T).m".
func shortFunction(fn string) string {
	// The last '/' before the package's own name: a method's receiver or
	// a closure's name holds none.
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

func (h *SKAHandler) appendAttr(b []byte, prefix string, groups []string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if h.opts.ReplaceAttr != nil && a.Value.Kind() != slog.KindGroup {
		a = h.opts.ReplaceAttr(groups, a)
		a.Value = a.Value.Resolve()
	}
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		members := a.Value.Group()
		if len(members) == 0 {
			return b
		}
		if a.Key != "" {
			prefix += a.Key + "."
			groups = append(groups[:len(groups):len(groups)], a.Key)
		}
		for _, m := range members {
			b = h.appendAttr(b, prefix, groups, m)
		}
		return b
	}
	b = append(b, ' ')
	b = appendValueText(b, prefix+a.Key)
	b = append(b, '=')
	return appendValueText(b, valueString(a.Value))
}

// valueString is the text of a value as slog's text handler writes it.
func valueString(v slog.Value) (s string) {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		x := v.Any()
		if rv := reflect.ValueOf(x); x == nil || (rv.Kind() == reflect.Pointer && rv.IsNil()) {
			return "<nil>"
		}
		// A value's own method may panic; the line is still written.
		defer func() {
			if r := recover(); r != nil {
				s = fmt.Sprintf("!PANIC: %v", r)
			}
		}()
		switch x := x.(type) {
		case error:
			return x.Error()
		case encoding.TextMarshaler:
			t, err := x.MarshalText()
			if err != nil {
				return "!ERROR:" + err.Error()
			}
			return string(t)
		case []byte:
			return string(x)
		}
		return fmt.Sprintf("%+v", x)
	}
	return v.String()
}

// appendValueText writes s bare when it reads back unambiguously, else
// quoted with '|' escaped.
func appendValueText(b []byte, s string) []byte {
	if !needsQuoting(s, "") {
		return append(b, s...)
	}
	return appendQuoted(b, s, "|")
}

// tagText is a tag key or value: as a value, with ',' and ':' (the tag
// separators) also calling for quotes, and ',' escaped within them.
func tagText(s string) string {
	if !needsQuoting(s, ",:") {
		return s
	}
	return string(appendQuoted(nil, s, "|,"))
}

func needsQuoting(s, also string) bool {
	if s == "" {
		return true
	}
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return true
			}
		}
		if r == ' ' || r == '=' || r == '"' || r == '|' || !unicode.IsPrint(r) || strings.ContainsRune(also, r) {
			return true
		}
	}
	return false
}

// appendQuoted writes s as a Go string literal with each byte of esc (all
// ASCII punctuation, never part of an escape sequence) written \xNN.
func appendQuoted(b []byte, s, esc string) []byte {
	q := strconv.Quote(s)
	for i := 0; i < len(q); i++ {
		if c := q[i]; strings.IndexByte(esc, c) >= 0 {
			b = append(b, `\x`...)
			b = append(b, hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return b
}

const hex = "0123456789abcdef"

// appendEscaped writes message text: '\' as \\, '|' as \x7c, and what is
// not printable with Go's escapes, so that the text is the body of a Go
// string literal (with '"' left bare).
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\x`...)
			b = append(b, hex[s[i]>>4], hex[s[i]&0xf])
		case r == '\\':
			b = append(b, `\\`...)
		case r == '|':
			b = append(b, `\x7c`...)
		case r == '"' || r == ' ' || unicode.IsPrint(r):
			b = append(b, s[i:i+size]...)
		default:
			// QuoteRune gives 'x' with x escaped; the quotes are dropped.
			q := strconv.QuoteRune(r)
			b = append(b, q[1:len(q)-1]...)
		}
		i += size
	}
	return b
}
