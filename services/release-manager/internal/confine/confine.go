// Package confine keeps a release inside the processing namespace: no
// object in another namespace, no cluster-scoped object but of the kinds an
// operator allows (PersistentVolume by default), no object of an API the
// cluster does not serve. A chart that reaches further fails with a clear
// error instead of half-installing against the release-manager's RBAC.
//
// It guards twice. Confiner is a Helm post-renderer, which sees a chart's
// manifests before Helm sends any of them. Helm v3 does not post-render
// hooks, so Client, around the Kubernetes client the Helm actions use,
// checks every object list before it is created, updated or deleted,
// hooks included.
//
// Every Helm action goes through it (the reconciler's post-renderer,
// helmexec's Kubernetes client): docs/architecture.md, §4. From an entry to a release and a state, step 4.
package confine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// ErrOutside marks a chart with objects in another namespace or of a
// cluster-scoped kind that is not allowed.
var ErrOutside = errors.New("chart renders objects outside the processing namespace")

// ErrUnserved marks a chart using an API version and kind the cluster does
// not serve (an old extensions/v1beta1 Ingress, a CRD not installed).
var ErrUnserved = errors.New("chart uses an API the cluster does not serve")

// ErrScopeUnknown marks an object whose scope (namespaced or cluster-wide)
// could not be learnt from the cluster's API discovery: confinement fails
// closed, so it is not written. Unlike the other two it may pass: the
// deployment is retried.
var ErrScopeUnknown = errors.New("scope of an object of the chart cannot be known")

// Error names every object a chart was refused for. It is ErrOutside,
// ErrUnserved, ErrScopeUnknown or several; permanent when outside or
// unserved (retrying the same chart on the same cluster cannot help), not
// when only a scope was unknown.
type Error struct {
	Namespace string
	// Allowed are the cluster-scoped kinds that were allowed.
	Allowed Kinds
	// Outside says, for each object outside, what it is and where.
	Outside []string
	// Unserved lists "<apiVersion> <Kind>" once each.
	Unserved []string
	// Unknown says, for each object whose scope could not be known, what it
	// is and why.
	Unknown []string
}

func (e *Error) Error() string {
	var parts []string
	if len(e.Outside) > 0 {
		allowed := "no cluster-scoped kind is allowed"
		if len(e.Allowed) > 0 {
			allowed = "allowed cluster-scoped kinds: " + e.Allowed.String()
		}
		parts = append(parts, fmt.Sprintf("%s %q (%s): %s", ErrOutside.Error(), e.Namespace, allowed, strings.Join(e.Outside, "; ")))
	}
	for _, u := range e.Unserved {
		parts = append(parts, fmt.Sprintf("chart uses %s, which this cluster does not serve", u))
	}
	if len(e.Unknown) > 0 {
		parts = append(parts, fmt.Sprintf("%s, so it is not written: %s", ErrScopeUnknown.Error(), strings.Join(e.Unknown, "; ")))
	}
	return strings.Join(parts, "; ")
}

func (e *Error) Is(target error) bool {
	switch target {
	case ErrOutside:
		return len(e.Outside) > 0
	case ErrUnserved:
		return len(e.Unserved) > 0
	case ErrScopeUnknown:
		return len(e.Unknown) > 0
	case controller.ErrPermanent:
		return len(e.Outside) > 0 || len(e.Unserved) > 0
	}
	return false
}

func (e *Error) empty() bool {
	return len(e.Outside) == 0 && len(e.Unserved) == 0 && len(e.Unknown) == 0
}

func (e *Error) unserved(gvk schema.GroupVersionKind) {
	u := fmt.Sprintf("%s %s", gvk.GroupVersion(), gvk.Kind)
	if !slices.Contains(e.Unserved, u) {
		e.Unserved = append(e.Unserved, u)
	}
}

// Confiner checks rendered manifests.
type Confiner struct {
	Namespace string
	// Allowed are the cluster-scoped kinds charts may create.
	Allowed Kinds
	// Mapper says whether a kind is namespaced, and whether the cluster
	// serves it at all.
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

// Check reads every object in a multi-document manifest and names every
// one that is refused, in one *Error.
func (c Confiner) Check(manifest []byte) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	e := c.newError()
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
		c.check(e, unstructured.Unstructured{Object: obj})
	}
	if e.empty() {
		return nil
	}
	return e
}

func (c Confiner) newError() *Error { return &Error{Namespace: c.Namespace, Allowed: c.Allowed} }

func (c Confiner) check(e *Error, u unstructured.Unstructured) {
	if u.IsList() {
		_ = u.EachListItem(func(o runtime.Object) error {
			if item, ok := o.(*unstructured.Unstructured); ok {
				c.check(e, *item)
			}
			return nil
		})
		return
	}
	gvk := u.GroupVersionKind()
	var scope meta.RESTScope
	if c.Mapper != nil && gvk.Kind != "" {
		m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		switch {
		case err == nil:
			scope = m.Scope
		case meta.IsNoMatchError(err):
			e.unserved(gvk)
			return
		default:
			// Discovery failing: where the object would go cannot be
			// told, so it is refused (fail closed), not let through.
			e.Unknown = append(e.Unknown, fmt.Sprintf("%s %q: %v", gvk.Kind, u.GetName(), err))
			return
		}
	}
	c.place(e, gvk, u.GetName(), u.GetNamespace(), scope)
}

// place adds to e what is wrong with where an object goes; a nil scope is
// unknown (only the namespace is checked).
func (c Confiner) place(e *Error, gvk schema.GroupVersionKind, name, namespace string, scope meta.RESTScope) {
	what := fmt.Sprintf("%s %q", gvk.Kind, name)
	if scope != nil && scope.Name() == meta.RESTScopeNameRoot {
		if !c.Allowed.Allows(gvk.GroupKind()) {
			e.Outside = append(e.Outside, what+" is cluster-scoped")
		}
		return // a cluster-scoped object's namespace field means nothing
	}
	if namespace != "" && namespace != c.Namespace {
		e.Outside = append(e.Outside, fmt.Sprintf("%s is in namespace %q", what, namespace))
	}
}
