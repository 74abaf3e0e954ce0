package confine

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolume"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClass"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, meta.RESTScopeNamespace)
	return m
}

func TestCheck(t *testing.T) {
	c := Confiner{Namespace: "sdp", Mapper: testMapper(), Allowed: Kinds{{Kind: "PersistentVolume"}}}
	pv := "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: out\nspec:\n  capacity: {storage: 1Gi}\n"
	tests := []struct {
		name, manifest string
		says           []string
		unserved       bool
	}{
		{"no namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", nil, false},
		{"own namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: sdp\n", nil, false},
		{"empty documents", "---\n# comment only\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n---\n", nil, false},
		{"allowed cluster-scoped kind", pv, nil, false},
		{"allowed kind, its namespace field ignored", "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: out\n  namespace: other\n", nil, false},
		{"allowed kind beside its claim", pv + "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: c\n", nil, false},
		{"kind of another group is not the allowed one", "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast\n",
			[]string{`StorageClass "fast" is cluster-scoped`, "allowed cluster-scoped kinds: PersistentVolume"}, false},
		{"unserved kind", "apiVersion: x.io/v1\nkind: Widget\nmetadata:\n  name: w\n", []string{"chart uses x.io/v1 Widget, which this cluster does not serve"}, true},
		{"unserved version of a served kind", "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: i\n---\napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: j\n",
			[]string{"chart uses extensions/v1beta1 Ingress, which this cluster does not serve"}, true},
		{"other namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: kube-system\n", []string{`ConfigMap "a" is in namespace "kube-system"`}, false},
		{"cluster-scoped", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: admin2\n", []string{`ClusterRole "admin2" is cluster-scoped`}, false},
		{"both, all named", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: other\n",
			[]string{`Namespace "ns1" is cluster-scoped`, `ConfigMap "b" is in namespace "other"`}, false},
		{"list items", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: x\n", []string{`Namespace "x" is cluster-scoped`}, false},
	}
	for _, tt := range tests {
		err := c.Check([]byte(tt.manifest))
		if tt.says == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if errors.Is(err, ErrOutside) == tt.unserved || errors.Is(err, ErrUnserved) != tt.unserved {
			t.Errorf("%s: err = %v, want ErrOutside %v, ErrUnserved %v", tt.name, err, !tt.unserved, tt.unserved)
			continue
		}
		if !errors.Is(err, controller.ErrPermanent) {
			t.Errorf("%s: %v is not permanent", tt.name, err)
		}
		if n := strings.Count(err.Error(), "does not serve"); tt.unserved && n != 1 {
			t.Errorf("%s: %q names the unserved API %d times, want once", tt.name, err, n)
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
	none := Confiner{Namespace: "sdp", Mapper: testMapper()}
	if err := none.Check([]byte(pv)); !errors.Is(err, ErrOutside) || !strings.Contains(err.Error(), "no cluster-scoped kind is allowed") {
		t.Errorf("with no kind allowed, a PersistentVolume: %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\n---\nkind: List\nitems: [1, {kind: Namespace}]\n")
	c := Confiner{Namespace: "sdp", Mapper: testMapper(), Allowed: Kinds{{Kind: "PersistentVolume"}}}
	f.Fuzz(func(t *testing.T, manifest string) {
		_ = c.Check([]byte(manifest)) // must not panic
	})
}
