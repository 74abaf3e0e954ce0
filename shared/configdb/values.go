// The values of a deployment entry: dotted keys expanded into nested
// maps as the Python deployer expands them, with conflicts named.

package configdb

import (
	"fmt"
	"sort"
	"strings"
)

// ExpandValues turns dotted top-level keys into nested maps, as
// `helm --set worker.replicas=2` would: {"worker.replicas": 2} becomes
// {"worker": {"replicas": 2}}. Rules, chosen so that nothing is silently
// dropped:
//
//   - Only top-level keys are split. Keys inside nested objects are kept as
//     they are, because there dots are usually part of the name
//     (annotations such as "prometheus.io/scrape").
//   - A backslash makes the next character literal, as with --set:
//     "a\.b" is the key "a.b", "a\\b" the key "a\b".
//   - Dotted keys merge with objects given directly: {"a": {"x": 1},
//     "a.y": 2} gives {"a": {"x": 1, "y": 2}}.
//   - Two keys that set the same leaf, or that would make one path both a
//     scalar and an object ({"a": 1, "a.b": 2}), are a conflict and an
//     error naming both keys. JSON objects have no order that could decide
//     which one wins (--set would let the last one win), so guessing could
//     deploy something other than what the script meant.
//   - Empty segments ("a..b", ".a", "a.") are an error.
func ExpandValues(values map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(values))
	// origin remembers, for each path set so far, which input key set it,
	// so that a conflict names both culprits.
	origin := map[string]string{}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	// Sorted, so that the reported conflict is the same on every run.
	sort.Strings(keys)
	for _, key := range keys {
		segments, err := splitDotted(key)
		if err != nil {
			return nil, err
		}
		if err := setPath(out, "", segments, values[key], key, origin); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func splitDotted(key string) ([]string, error) {
	var segments []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		switch {
		case key[i] == '\\' && i+1 < len(key):
			cur.WriteByte(key[i+1])
			i++
		case key[i] == '.':
			segments = append(segments, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(key[i])
		}
	}
	segments = append(segments, cur.String())
	if len(segments) > 1 {
		for _, s := range segments {
			if s == "" {
				return nil, fmt.Errorf("key %q has an empty part between dots", truncate(key, maxQuoted))
			}
		}
	}
	return segments, nil
}

// escapeKey is the inverse of splitDotted for one segment.
func escapeKey(k string) string {
	return strings.NewReplacer(`\`, `\\`, ".", `\.`).Replace(k)
}

// setPath sets value at base+segments below m (m is the map at base),
// merging objects and refusing conflicts.
func setPath(m map[string]any, base string, segments []string, value any, key string, origin map[string]string) error {
	path := base
	for _, seg := range segments[:len(segments)-1] {
		path = joinPath(path, seg)
		existing, set := m[seg]
		if !set {
			child := map[string]any{}
			m[seg] = child
			origin[path] = key
			m = child
			continue
		}
		child, isObject := existing.(map[string]any)
		if !isObject {
			return conflict(whoSet(origin, path), key, path)
		}
		m = child
	}
	leaf := segments[len(segments)-1]
	path = joinPath(path, leaf)
	existing, set := m[leaf]
	if !set {
		// A copy, so that later dotted keys merging into this object do
		// not write into the caller's map.
		m[leaf] = cloneValue(value)
		origin[path] = key
		return nil
	}
	// Two objects for the same path merge; anything else is a conflict.
	em, ok1 := existing.(map[string]any)
	nm, ok2 := value.(map[string]any)
	if !ok1 || !ok2 {
		return conflict(whoSet(origin, path), key, path)
	}
	children := make([]string, 0, len(nm))
	for k := range nm {
		children = append(children, k)
	}
	sort.Strings(children)
	for _, k := range children {
		if err := setPath(em, path, []string{k}, nm[k], key, origin); err != nil {
			return err
		}
	}
	return nil
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, e := range t {
			c[k] = cloneValue(e)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = cloneValue(e)
		}
		return c
	}
	return v
}

func joinPath(base, seg string) string {
	if base == "" {
		return seg
	}
	return base + "." + seg
}

// whoSet names the input key that set path or its nearest ancestor.
func whoSet(origin map[string]string, path string) string {
	for p := path; p != ""; {
		if k, ok := origin[p]; ok {
			return k
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return path
}

func conflict(first, second, path string) error {
	return fmt.Errorf("keys %q and %q both set %q (as a value and as an object, or twice); keep one",
		truncate(first, maxQuoted), truncate(second, maxQuoted), truncate(path, maxQuoted))
}
