package configdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeDeploymentFieldNames(t *testing.T) {
	tests := []struct {
		name, data string
		kind       string
	}{
		{"key+kind", `{"key": "d1", "kind": "helm", "args": {"chart": "c"}}`, "helm"},
		{"id", `{"id": "d1", "kind": "helm", "args": {"chart": "c"}}`, "helm"},
		{"dpl_id", `{"dpl_id": "d1", "kind": "helm", "args": {"chart": "c"}}`, "helm"},
		{"deploy_id", `{"deploy_id": "d1", "kind": "helm", "args": {"chart": "c"}}`, "helm"},
		{"type", `{"key": "d1", "type": "helm", "args": {"chart": "c"}}`, "helm"},
		{"deploy_id+type", `{"deploy_id":"d1","type":"helm","args":{"chart":"c"}}`, "helm"},
		{"no id field", `{"kind": "helm", "args": {"chart": "c"}}`, "helm"},
		{"kind wins over type", `{"key": "d1", "kind": "helm", "type": "slurm", "args": {"chart": "c"}}`, "helm"},
		{"other kind, other args", `{"key": "d1", "kind": "slurm", "args": [1, 2]}`, "slurm"},
		{"other kind, no args", `{"key": "d1", "type": "dask"}`, "dask"},
	}
	for _, tt := range tests {
		d, err := DecodeDeployment("d1", []byte(tt.data))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if d.ID != "d1" || d.Kind != tt.kind {
			t.Errorf("%s: got id %q kind %q, want d1 %q", tt.name, d.ID, d.Kind, tt.kind)
		}
		if d.IsHelm() && d.Chart != "c" {
			t.Errorf("%s: chart %q", tt.name, d.Chart)
		}
	}
}

func TestDecodeDeploymentErrors(t *testing.T) {
	huge := strings.Repeat("x", 800<<10)
	tests := []struct {
		name, data, says string
	}{
		{"not json", `{"key": `, "not valid JSON"},
		{"trailing", `{"key": "d1"} x`, "not valid JSON"},
		{"list", `[1]`, "must be a JSON object, not a list"},
		{"string", `"x"`, "not a string"},
		{"empty", ``, "not valid JSON"},
		{"id mismatch", `{"key": "other", "kind": "helm", "args": {"chart": "c"}}`, `says the id is "other"`},
		{"id not string", `{"key": 5, "kind": "helm"}`, `field "key" must be a string`},
		{"no kind", `{"key": "d1", "args": {"chart": "c"}}`, `no "kind"`},
		{"no args", `{"key": "d1", "kind": "helm"}`, `no "args"`},
		{"args list", `{"key": "d1", "kind": "helm", "args": []}`, `"args": must be a JSON object`},
		{"no chart", `{"key": "d1", "kind": "helm", "args": {}}`, `"args.chart" is missing`},
		{"blank chart", `{"key": "d1", "kind": "helm", "args": {"chart": "  "}}`, `"args.chart" is missing`},
		{"chart number", `{"key": "d1", "kind": "helm", "args": {"chart": 3}}`, `field "chart" must be a string`},
		{"values list", `{"key": "d1", "kind": "helm", "args": {"chart": "c", "values": [1]}}`, `"args.values" must be an object, not a list`},
		{"values conflict", `{"key": "d1", "kind": "helm", "args": {"chart": "c", "values": {"a": 1, "a.b": 2}}}`, `keys "a" and "a.b" both set "a"`},
		// Whatever an entry holds, the message stays short enough to be
		// written into its state entry and read in a log line.
		{"huge chart", fmt.Sprintf(`{"key": "d1", "kind": "helm", "args": {"chart": %q}}`, huge), `"args.chart" is 819200 bytes long`},
		{"huge version", fmt.Sprintf(`{"key": "d1", "kind": "helm", "args": {"chart": "c", "version": %q}}`, huge), `"args.version" is 819200 bytes long`},
		{"huge id in body", fmt.Sprintf(`{"key": %q, "kind": "helm", "args": {"chart": "c"}}`, huge), `says the id is "xxx`},
		{"huge key conflict", fmt.Sprintf(`{"key": "d1", "kind": "helm", "args": {"chart": "c", "values": {%q: 1, "%s.b": 2}}}`, huge, huge), `both set "xxx`},
		{"huge key with empty part", fmt.Sprintf(`{"key": "d1", "kind": "helm", "args": {"chart": "c", "values": {"%s..b": 1}}}`, huge), "has an empty part between dots"},
	}
	for _, tt := range tests {
		_, err := DecodeDeployment("d1", []byte(tt.data))
		if !errors.Is(err, ErrBadDeployment) {
			t.Errorf("%s: err = %v, want ErrBadDeployment", tt.name, truncate(fmt.Sprint(err), 300))
			continue
		}
		if !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "/deploy/d1") {
			t.Errorf("%s: error %q does not name the entry and say %q", tt.name, truncate(err.Error(), 300), tt.says)
		}
		if n := len(err.Error()); n > 1024 {
			t.Errorf("%s: error is %d bytes long", tt.name, n)
		}
	}
}

func TestExpandValues(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{"plain", `{"a": 1, "b": {"c": "x"}}`, `{"a": 1, "b": {"c": "x"}}`, ""},
		{"dotted", `{"worker.replicas": 2}`, `{"worker": {"replicas": 2}}`, ""},
		{"deep", `{"a.b.c.d": true}`, `{"a": {"b": {"c": {"d": true}}}}`, ""},
		{"merge siblings", `{"a.b": 1, "a.c": 2}`, `{"a": {"b": 1, "c": 2}}`, ""},
		{"merge with object", `{"a": {"x": 1}, "a.y": 2}`, `{"a": {"x": 1, "y": 2}}`, ""},
		{"merge deep object", `{"a.b": {"x": 1}, "a": {"b": {"y": 2}}}`, `{"a": {"b": {"x": 1, "y": 2}}}`, ""},
		{"nested dots kept", `{"podAnnotations": {"prometheus.io/scrape": "true"}}`, `{"podAnnotations": {"prometheus.io/scrape": "true"}}`, ""},
		{"escaped dot", `{"a\\.b": 1, "c.d\\.e": 2}`, `{"a.b": 1, "c": {"d.e": 2}}`, ""},
		{"null value", `{"a.b": null}`, `{"a": {"b": null}}`, ""},
		{"list value", `{"a.b": [1, {"c.d": 2}]}`, `{"a": {"b": [1, {"c.d": 2}]}}`, ""},
		{"scalar then object", `{"a": 1, "a.b": 2}`, "", `keys "a" and "a.b" both set "a"`},
		{"object then scalar", `{"a.b": 2, "a.b.c": 3}`, "", `keys "a.b" and "a.b.c" both set "a.b"`},
		{"same leaf twice", `{"a": {"b": 1}, "a.b": 2}`, "", `both set "a.b"`},
		{"null blocks object", `{"a": null, "a.b": 2}`, "", `both set "a"`},
		{"empty segment", `{"a..b": 1}`, "", "empty part"},
		{"leading dot", `{".a": 1}`, "", "empty part"},
		{"trailing dot", `{"a.": 1}`, "", "empty part"},
	}
	for _, tt := range tests {
		in := mustGeneric(t, tt.in).(map[string]any)
		before, _ := encodeValue(in)
		got, err := ExpandValues(in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if want := mustGeneric(t, tt.want); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, want)
		}
		if after, _ := encodeValue(in); string(after) != string(before) {
			t.Errorf("%s: input changed from %s to %s", tt.name, before, after)
		}
	}
}

func TestDeploymentDottedValues(t *testing.T) {
	d, err := DecodeDeployment("x", []byte(`{"key": "x", "kind": "helm", "args": {"chart": "c", "version": "1.2.3", "values": {"worker.replicas": 2, "image": "i"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"worker": map[string]any{"replicas": json.Number("2")}, "image": "i"}
	if !reflect.DeepEqual(d.Values, want) || d.Version != "1.2.3" {
		t.Errorf("got %#v version %q", d.Values, d.Version)
	}
}

func mustGeneric(t *testing.T, s string) any {
	t.Helper()
	v, err := decodeGeneric([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func TestDecodeDeploymentDocument(t *testing.T) {
	tests := []struct {
		name, data string
		id, chart  string // on success
		err        error  // else
		says       string
	}{
		{"key", `{"key": "d1", "kind": "helm", "args": {"chart": "c"}}`, "d1", "c", nil, ""},
		{"old id field", `{"dpl_id": "d2", "type": "helm", "args": {"chart": "c"}}`, "d2", "c", nil, ""},
		{"no id", `{"kind": "helm", "args": {"chart": "c"}}`, "", "", ErrBadDeployment, `no "key" field`},
		{"id not string", `{"key": 1, "kind": "helm"}`, "", "", ErrBadDeployment, `field "key" must be a string`},
		{"bad id", `{"key": "a_b", "kind": "helm", "args": {"chart": "c"}}`, "", "", ErrInvalidID, "only letters, digits and '-'"},
		{"not an object", `[1]`, "", "", ErrBadDeployment, "must be a JSON object"},
		{"no chart", `{"key": "d1", "kind": "helm", "args": {}}`, "", "", ErrBadDeployment, `"args.chart" is missing`},
	}
	for _, tt := range tests {
		d, err := DecodeDeploymentDocument([]byte(tt.data))
		if tt.err != nil {
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("%s: err = %v, want %v saying %q", tt.name, err, tt.err, tt.says)
			}
			continue
		}
		if err != nil || d.ID != tt.id || d.Chart != tt.chart {
			t.Errorf("%s: got %+v, %v; want id %q chart %q", tt.name, d, err, tt.id, tt.chart)
		}
	}
}
