package reconciler

import (
	"encoding/json"
	"strconv"
)

// helmValues converts decoded entry values for Helm: numbers become int64
// when they are integers and float64 otherwise, as `helm --set` types them,
// so templates print 2 rather than 2.0 and compare as charts expect.
func helmValues(v map[string]any) map[string]any {
	out := make(map[string]any, len(v))
	for k, e := range v {
		out[k] = helmValue(e)
	}
	return out
}

func helmValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return helmValues(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = helmValue(e)
		}
		return out
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return string(t)
	}
	return v
}
