package manifests

import (
	"strings"
	"testing"
)

func TestDecodeAll(t *testing.T) {
	for _, c := range []struct {
		name  string
		in    string
		kinds []string
		err   string
	}{
		{"objects", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n", []string{"Namespace", "ConfigMap"}, ""},
		{"empty documents", "---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n", []string{"Namespace"}, ""},
		{"a Prometheus rule file is skipped", "groups:\n- name: x\n  rules: []\n", nil, ""},
		{"kind without apiVersion", "kind: ConfigMap\nmetadata: {name: b}\n", nil, "without apiVersion or kind"},
		{"apiVersion without kind", "apiVersion: v1\nmetadata: {name: b}\n", nil, "without apiVersion or kind"},
		{"not YAML", "a: [", nil, "yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs, err := decodeAll([]byte(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.GetKind())
			}
			if strings.Join(kinds, ",") != strings.Join(c.kinds, ",") {
				t.Errorf("kinds %v, want %v", kinds, c.kinds)
			}
		})
	}
}
