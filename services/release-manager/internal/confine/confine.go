// Package confine keeps a release inside the processing namespace: it is a
// Helm post-renderer that refuses manifests with objects in another
// namespace or of cluster-scoped kinds, so that a chart fails with a clear
// error instead of half-installing against the namespace-bound Role (as the
// Python deployer's RBAC had it). Helm v3 does not post-render hooks; for
// those, the Role is the guard.
package confine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ErrOutside marks a manifest that reaches outside the namespace.
var ErrOutside = errors.New("chart renders objects outside the processing namespace")

// Confiner checks rendered manifests.
type Confiner struct {
	Namespace string
	// Mapper says whether a kind is namespaced. Kinds it does not know are
	// left to the API server to refuse.
	Mapper meta.RESTMapper
}

// Run implements Helm's postrender.PostRenderer; the manifests are returned
// unchanged when they are confined.
func (c Confiner) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	if err := c.Check(rendered.Bytes()); err != nil {
		return nil, err
	}
	return rendered, nil
}

// Check reads every object in a multi-document manifest and lists every
// one that is outside the namespace, in one error.
func (c Confiner) Check(manifest []byte) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var problems []string
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read rendered manifests: %w", err)
		}
		if obj == nil {
			continue
		}
		problems = append(problems, c.check(unstructured.Unstructured{Object: obj})...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w %q: %s", ErrOutside, c.Namespace, strings.Join(problems, "; "))
	}
	return nil
}

func (c Confiner) check(u unstructured.Unstructured) []string {
	if u.IsList() {
		var problems []string
		_ = u.EachListItem(func(o runtime.Object) error {
			if item, ok := o.(*unstructured.Unstructured); ok {
				problems = append(problems, c.check(*item)...)
			}
			return nil
		})
		return problems
	}
	gvk := u.GroupVersionKind()
	name := fmt.Sprintf("%s %q", gvk.Kind, u.GetName())
	if ns := u.GetNamespace(); ns != "" && ns != c.Namespace {
		return []string{fmt.Sprintf("%s is in namespace %q", name, ns)}
	}
	if c.Mapper != nil && gvk.Kind != "" {
		m, err := c.Mapper.RESTMapping(schema.GroupKind{Group: gvk.Group, Kind: gvk.Kind}, gvk.Version)
		if err == nil && m.Scope.Name() == meta.RESTScopeNameRoot {
			return []string{fmt.Sprintf("%s is cluster-scoped", name)}
		}
	}
	return nil
}
