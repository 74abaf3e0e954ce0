package confine

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// recorder is a Kubernetes client that counts what reaches it.
type recorder struct {
	kubefake.PrintingKubeClient
	built    kube.ResourceList
	buildErr error
	calls    []string
}

func (r *recorder) Build(io.Reader, bool) (kube.ResourceList, error) { return r.built, r.buildErr }

func (r *recorder) Create(l kube.ResourceList) (*kube.Result, error) {
	r.calls = append(r.calls, fmt.Sprintf("create %d", len(l)))
	return &kube.Result{Created: l}, nil
}

func (r *recorder) Update(o, t kube.ResourceList, _ bool) (*kube.Result, error) {
	r.calls = append(r.calls, fmt.Sprintf("update %d %d", len(o), len(t)))
	return &kube.Result{}, nil
}

func (r *recorder) Delete(l kube.ResourceList) (*kube.Result, []error) {
	r.calls = append(r.calls, fmt.Sprintf("delete %d", len(l)))
	return &kube.Result{Deleted: l}, nil
}

func (r *recorder) DeleteWithPropagationPolicy(l kube.ResourceList, _ metav1.DeletionPropagation) (*kube.Result, []error) {
	r.calls = append(r.calls, fmt.Sprintf("delete-propagation %d", len(l)))
	return &kube.Result{Deleted: l}, nil
}

func info(group, version, kind, name, namespace string, scope meta.RESTScope) *resource.Info {
	return &resource.Info{Name: name, Namespace: namespace, Mapping: &meta.RESTMapping{
		GroupVersionKind: schema.GroupVersionKind{Group: group, Version: version, Kind: kind}, Scope: scope}}
}

func TestClientRefusesBeforeAnyRequest(t *testing.T) {
	c := Confiner{Namespace: "sdp", Allowed: Kinds{{Kind: "PersistentVolume"}}}
	cm := info("", "v1", "ConfigMap", "cm", "sdp", meta.RESTScopeNamespace)
	pv := info("", "v1", "PersistentVolume", "out", "", meta.RESTScopeRoot)
	cr := info("rbac.authorization.k8s.io", "v1", "ClusterRole", "admin2", "", meta.RESTScopeRoot)
	elsewhere := info("", "v1", "ConfigMap", "cm", "kube-system", meta.RESTScopeNamespace)
	type op func(*Client) error
	create := func(l ...*resource.Info) op {
		return func(k *Client) error { _, err := k.Create(l); return err }
	}
	deleteAll := func(l ...*resource.Info) op {
		return func(k *Client) error {
			_, errs := k.Delete(l)
			return errors.Join(errs...)
		}
	}
	tests := []struct {
		name  string
		op    op
		calls string // what reached the wrapped client
		says  []string
	}{
		{"create confined", create(cm, pv), "create 2", nil},
		{"create with a cluster role", create(cm, cr), "", []string{`ClusterRole "admin2" is cluster-scoped`}},
		{"create in another namespace", create(elsewhere), "", []string{`ConfigMap "cm" is in namespace "kube-system"`}},
		{"update whose target is outside", func(k *Client) error {
			_, err := k.Update(kube.ResourceList{cm}, kube.ResourceList{cm, cr}, false)
			return err
		}, "", []string{`ClusterRole "admin2"`}},
		{"update that would delete an object outside", func(k *Client) error {
			_, err := k.Update(kube.ResourceList{elsewhere}, kube.ResourceList{cm}, false)
			return err
		}, "", []string{`is in namespace "kube-system"`}},
		{"three-way merge outside", func(k *Client) error {
			_, err := k.UpdateThreeWayMerge(nil, kube.ResourceList{cr}, false)
			return err
		}, "", []string{`ClusterRole "admin2"`}},
		{"delete confined", deleteAll(cm, pv), "delete 2", nil},
		{"delete outside", deleteAll(cm, cr), "", []string{`ClusterRole "admin2"`}},
		{"delete with propagation outside", func(k *Client) error {
			_, errs := k.DeleteWithPropagationPolicy(kube.ResourceList{elsewhere}, metav1.DeletePropagationBackground)
			return errors.Join(errs...)
		}, "", []string{"kube-system"}},
		{"delete with propagation confined", func(k *Client) error {
			_, errs := k.DeleteWithPropagationPolicy(kube.ResourceList{cm}, metav1.DeletePropagationBackground)
			return errors.Join(errs...)
		}, "delete-propagation 1", nil},
	}
	for _, tt := range tests {
		rec := &recorder{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
		k := c.Client(rec)
		err := tt.op(k)
		if got := strings.Join(rec.calls, ","); got != tt.calls {
			t.Errorf("%s: reached the cluster: %q, want %q", tt.name, got, tt.calls)
		}
		if tt.says == nil {
			if err != nil || k.Refused() != nil {
				t.Errorf("%s: %v (refused: %v)", tt.name, err, k.Refused())
			}
			continue
		}
		if !errors.Is(err, ErrOutside) || !errors.Is(k.Refused(), ErrOutside) {
			t.Errorf("%s: err = %v, refused = %v; want ErrOutside", tt.name, err, k.Refused())
			continue
		}
		for _, s := range tt.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", tt.name, err, s)
			}
		}
	}
}

func TestClientBuildNamesUnservedAPI(t *testing.T) {
	c := Confiner{Namespace: "sdp"}
	// As cli-runtime's mapper wraps it.
	nomatch := fmt.Errorf("resource mapping not found for name: %q namespace: %q from %q: %w\nensure CRDs are installed first", "i", "", "",
		&meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "extensions", Kind: "Ingress"}, SearchedVersions: []string{"v1beta1"}})
	k := c.Client(&recorder{buildErr: nomatch})
	_, err := k.Build(strings.NewReader(""), true)
	want := "chart uses extensions/v1beta1 Ingress, which this cluster does not serve"
	if !errors.Is(err, ErrUnserved) || err.Error() != want || !errors.Is(k.Refused(), ErrUnserved) {
		t.Errorf("Build: %v (refused %v), want %q", err, k.Refused(), want)
	}
	other := errors.New("error validating data")
	k = c.Client(&recorder{buildErr: other})
	if _, err := k.Build(strings.NewReader(""), true); err != other || k.Refused() != nil {
		t.Errorf("Build changed another error: %v (refused %v)", err, k.Refused())
	}
}

func TestExplain(t *testing.T) {
	c := Confiner{Namespace: "sdp"}
	k := c.Client(&recorder{})
	plain := errors.New("timed out waiting for the condition")
	if got := k.Explain(plain); got != plain {
		t.Errorf("nothing refused: Explain = %v", got)
	}
	if k.Explain(nil) != nil {
		t.Error("Explain(nil) != nil")
	}
	_, err := k.Create(kube.ResourceList{info("rbac.authorization.k8s.io", "v1", "ClusterRole", "x", "", meta.RESTScopeRoot)})
	refusal := err.Error()
	tests := []struct {
		name string
		helm error
		want string
	}{
		// Install's pre-install hook: the refusal as text only.
		{"quoted", fmt.Errorf("failed pre-install: warning: Hook pre-install c/templates/cr.yaml failed: %s", err),
			"failed pre-install: warning: Hook pre-install c/templates/cr.yaml failed: " + refusal},
		// Uninstall: the refusal only logged.
		{"dropped", errors.New("failed to delete release: sdp-x"), "failed to delete release: sdp-x: " + refusal},
		// The post-renderer's path keeps the type.
		{"wrapped", fmt.Errorf("error while running post render on files: %w", err), "error while running post render on files: " + refusal},
	}
	for _, tt := range tests {
		got := k.Explain(tt.helm)
		if got.Error() != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		if !errors.Is(got, ErrOutside) || !errors.Is(got, controller.ErrPermanent) || !errors.Is(got, tt.helm) {
			t.Errorf("%s: %v does not wrap the refusal and Helm's error", tt.name, got)
		}
	}
}

// With a Mapper the manifest is read first: Helm's validator, which fails
// on an unserved API before the mapping does, never gets to say it.
func TestClientBuildChecksWithMapper(t *testing.T) {
	c := Confiner{Namespace: "sdp", Mapper: testMapper()}
	rec := &recorder{buildErr: errors.New("error validating data: the server could not find the requested resource")}
	k := c.Client(rec)
	_, err := k.Build(strings.NewReader("apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: i\n"), true)
	if want := "chart uses extensions/v1beta1 Ingress, which this cluster does not serve"; err == nil || err.Error() != want {
		t.Errorf("Build: %v, want %q", err, want)
	}
	rec.buildErr = nil
	k = c.Client(rec)
	// Objects outside are left to the writes.
	if _, err := k.Build(strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: other\n"), true); err != nil || k.Refused() != nil {
		t.Errorf("Build of an object outside: %v (refused %v), want it built", err, k.Refused())
	}
}

// failingMapper is discovery that does not answer.
type failingMapper struct{ meta.RESTMapper }

func (failingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	return nil, errors.New("the server is currently unable to handle the request")
}

// Confinement fails closed: an object whose scope cannot be known is
// refused with an error that says so and is not permanent (discovery may
// answer on the next try), both where manifests are checked and where
// objects are written.
func TestScopeUnknownIsRefused(t *testing.T) {
	c := Confiner{Namespace: "sdp", Mapper: failingMapper{testMapper()}}
	err := c.Check([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"))
	if !errors.Is(err, ErrScopeUnknown) || errors.Is(err, controller.ErrPermanent) || !strings.Contains(err.Error(), `ConfigMap "cm"`) {
		t.Errorf("Check with discovery failing = %v; want ErrScopeUnknown naming the object, not permanent", err)
	}

	rec := &recorder{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
	k := Confiner{Namespace: "sdp"}.Client(rec)
	unmapped := &resource.Info{Name: "x", Namespace: "sdp"}
	if _, err := k.Create(kube.ResourceList{unmapped}); !errors.Is(err, ErrScopeUnknown) || !strings.Contains(err.Error(), "no API mapping") {
		t.Errorf("create of an object with no mapping = %v; want refused, ErrScopeUnknown", err)
	}
	if len(rec.calls) != 0 {
		t.Errorf("reached the cluster: %v", rec.calls)
	}
	// Outside and unknown together: permanent, as outside alone is.
	e := &Error{Outside: []string{"x"}, Unknown: []string{"y"}}
	if !errors.Is(e, controller.ErrPermanent) {
		t.Error("an error with an object outside is not permanent")
	}
}
