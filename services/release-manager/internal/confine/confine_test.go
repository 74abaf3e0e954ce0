package confine

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeRoot)
	return m
}

func TestCheck(t *testing.T) {
	c := Confiner{Namespace: "sdp", Mapper: testMapper()}
	tests := []struct {
		name, manifest string
		says           []string
	}{
		{"no namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", nil},
		{"own namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: sdp\n", nil},
		{"empty documents", "---\n# comment only\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n---\n", nil},
		{"unknown kind left to the API", "apiVersion: x.io/v1\nkind: Widget\nmetadata:\n  name: w\n", nil},
		{"other namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: kube-system\n", []string{`ConfigMap "a" is in namespace "kube-system"`}},
		{"cluster-scoped", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: admin2\n", []string{`ClusterRole "admin2" is cluster-scoped`}},
		{"both, all named", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: other\n",
			[]string{`Namespace "ns1" is cluster-scoped`, `ConfigMap "b" is in namespace "other"`}},
		{"list items", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: x\n", []string{`Namespace "x" is cluster-scoped`}},
	}
	for _, tt := range tests {
		err := c.Check([]byte(tt.manifest))
		if tt.says == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrOutside) {
			t.Errorf("%s: err = %v, want ErrOutside", tt.name, err)
			continue
		}
		for _, s := range tt.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", tt.name, err, s)
			}
		}
	}
	out, err := c.Run(bytes.NewBufferString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"))
	if err != nil || !strings.Contains(out.String(), "name: a") {
		t.Errorf("Run changed or refused a confined manifest: %v", err)
	}
	if err := c.Check([]byte("kind: [unclosed")); err == nil || errors.Is(err, ErrOutside) {
		t.Errorf("broken YAML: %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\n---\nkind: List\nitems: [1, {kind: Namespace}]\n")
	c := Confiner{Namespace: "sdp", Mapper: testMapper()}
	f.Fuzz(func(t *testing.T, manifest string) {
		_ = c.Check([]byte(manifest)) // must not panic
	})
}
