package configdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// encodeValue renders v the way ska-sdp-config writes values:
// json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False). Python clients
// read any formatting, but writing theirs keeps entries diff-able by operators
// and byte-identical whichever language wrote them.
//
// v may be any value encoding/json can marshal; numbers keep the text they
// were decoded from when they arrive as json.Number, so a value read and
// written back is not reformatted (1.0 stays 1.0, 1e3 stays 1e3).
func encodeValue(v any) ([]byte, error) {
	generic, err := toGeneric(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writePython(&buf, generic, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// toGeneric turns v into the tree of map[string]any, []any, string,
// json.Number, bool and nil that writePython knows.
func toGeneric(v any) (any, error) {
	switch v.(type) {
	case map[string]any, []any, string, json.Number, bool, nil:
		if ok := isGeneric(v); ok {
			return v, nil
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode value: %w", err)
	}
	return decodeGeneric(raw)
}

func isGeneric(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for _, e := range t {
			if !isGeneric(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range t {
			if !isGeneric(e) {
				return false
			}
		}
		return true
	case string, json.Number, bool, nil:
		return true
	}
	return false
}

// decodeGeneric decodes one JSON value, keeping numbers as json.Number and
// refusing trailing data.
func decodeGeneric(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

func writePython(buf *bytes.Buffer, v any, level int) error {
	switch t := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if t {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		if !json.Valid([]byte(t)) {
			return fmt.Errorf("encode value: invalid number %q", string(t))
		}
		buf.WriteString(string(t))
	case string:
		writePythonString(buf, t)
	case []any:
		if len(t) == 0 {
			buf.WriteString("[]")
			return nil
		}
		buf.WriteString("[")
		for i, e := range t {
			if i > 0 {
				buf.WriteString(",")
			}
			newline(buf, level+1)
			if err := writePython(buf, e, level+1); err != nil {
				return err
			}
		}
		newline(buf, level)
		buf.WriteString("]")
	case map[string]any:
		if len(t) == 0 {
			buf.WriteString("{}")
			return nil
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		// Python sorts str keys by code point; Go compares UTF-8 bytes,
		// which orders valid UTF-8 the same way.
		sort.Strings(keys)
		buf.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				buf.WriteString(",")
			}
			newline(buf, level+1)
			writePythonString(buf, k)
			buf.WriteString(": ")
			if err := writePython(buf, t[k], level+1); err != nil {
				return err
			}
		}
		newline(buf, level)
		buf.WriteString("}")
	default:
		return fmt.Errorf("encode value: unsupported type %T", v)
	}
	return nil
}

func newline(buf *bytes.Buffer, level int) {
	buf.WriteByte('\n')
	buf.WriteString(strings.Repeat("  ", level))
}

// writePythonString escapes as Python's json module does with
// ensure_ascii=False: quote, backslash and C0 controls only; everything else,
// U+2028 and U+2029 included, is written as raw UTF-8.
func writePythonString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Python strings cannot hold invalid UTF-8; write what
			// encoding/json would, the replacement character.
			buf.WriteString("\ufffd")
			i++
			continue
		}
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[r>>4])
			buf.WriteByte(hex[r&0xf])
		default:
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}
