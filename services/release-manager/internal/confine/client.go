package confine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/kube"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Client is the Kubernetes client of one Helm action, confined: every
// object list it is asked to create, update or delete is checked first and
// refused whole if any object is outside, so nothing of it is made. It is
// what confines hooks, which Helm v3 does not post-render. Objects of an
// API the cluster does not serve are refused as they are built.
//
// Helm formats a hook's error into text ("failed pre-install: %s") and
// only logs an uninstall's delete errors, so a refusal would reach the
// caller as an untyped string or not at all; Client keeps the first one,
// and Explain attaches it to the action's error. Use a new Client for each
// action.
type Client struct {
	kube.Interface
	confiner Confiner

	mu      sync.Mutex
	refused error
}

// Client wraps kc, the Kubernetes client Helm's actions are given. The
// optional interfaces Helm looks for (InterfaceExt and the others) are
// passed on when kc has them.
func (c Confiner) Client(kc kube.Interface) *Client {
	return &Client{Interface: kc, confiner: c}
}

var (
	_ kube.Interface                    = (*Client)(nil)
	_ kube.InterfaceExt                 = (*Client)(nil)
	_ kube.InterfaceThreeWayMerge       = (*Client)(nil)
	_ kube.InterfaceLogs                = (*Client)(nil)
	_ kube.InterfaceDeletionPropagation = (*Client)(nil)
	_ kube.InterfaceResources           = (*Client)(nil)
)

// Refused is the first refusal of this client, or nil.
func (k *Client) Refused() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refused
}

func (k *Client) refuse(err *Error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.refused == nil {
		k.refused = err
	}
	return err
}

// Explain returns the error of a Helm action run with this client such
// that errors.Is finds the refusal that caused it (ErrOutside,
// ErrUnserved), and its text says it once.
func (k *Client) Explain(err error) error {
	ref := k.Refused()
	if err == nil || ref == nil || errors.Is(err, ref) {
		return err
	}
	return &explained{helm: err, refusal: ref}
}

type explained struct{ helm, refusal error }

func (e *explained) Error() string {
	// Comparing the texts only avoids saying the refusal twice when Helm
	// already quoted it; what the error is, is told by Unwrap.
	if strings.Contains(e.helm.Error(), e.refusal.Error()) {
		return e.helm.Error()
	}
	return e.helm.Error() + ": " + e.refusal.Error()
}

func (e *explained) Unwrap() []error { return []error{e.helm, e.refusal} }

// check refuses lists that hold an object outside.
func (k *Client) check(lists ...kube.ResourceList) error {
	e := k.confiner.newError()
	for _, list := range lists {
		for _, info := range list {
			var gvk schema.GroupVersionKind
			var scope meta.RESTScope
			if info.Mapping != nil {
				gvk, scope = info.Mapping.GroupVersionKind, info.Mapping.Scope
			} else if info.Object != nil {
				gvk = info.Object.GetObjectKind().GroupVersionKind()
			}
			if scope == nil {
				// Fail closed: an object with no API mapping could go
				// anywhere.
				e.Unknown = append(e.Unknown, fmt.Sprintf("%s %q: no API mapping", gvk.Kind, info.Name))
				continue
			}
			k.confiner.place(e, gvk, info.Name, info.Namespace, scope)
		}
	}
	if e.empty() {
		return nil
	}
	return k.refuse(e)
}

// Build names an API the cluster does not serve as the post-renderer
// does. Helm's own error is not ours to read: with validation on, the
// validator fails first ("error validating data"), else the mapping error
// says "ensure CRDs are installed first"; and a hook's loses its type on
// the way out. With a Mapper, the manifest is checked first; without,
// only the mapping error is recognised.
func (k *Client) Build(r io.Reader, validate bool) (kube.ResourceList, error) {
	if k.confiner.Mapper != nil {
		manifest, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		// Objects outside are refused when they are to be written.
		var e *Error
		if err := k.confiner.Check(manifest); errors.As(err, &e) && len(e.Unserved) > 0 {
			return nil, k.refuse(&Error{Namespace: e.Namespace, Allowed: e.Allowed, Unserved: e.Unserved})
		}
		r = bytes.NewReader(manifest)
	}
	list, err := k.Interface.Build(r, validate)
	var nomatch *meta.NoKindMatchError
	if err != nil && errors.As(err, &nomatch) {
		e := k.confiner.newError()
		versions := nomatch.SearchedVersions
		if len(versions) == 0 {
			versions = []string{""}
		}
		for _, v := range versions {
			e.unserved(nomatch.GroupKind.WithVersion(v))
		}
		return nil, k.refuse(e)
	}
	return list, err
}

func (k *Client) Create(resources kube.ResourceList) (*kube.Result, error) {
	if err := k.check(resources); err != nil {
		return nil, err
	}
	return k.Interface.Create(resources)
}

// Update checks original too: what it holds and target does not is
// deleted.
func (k *Client) Update(original, target kube.ResourceList, force bool) (*kube.Result, error) {
	if err := k.check(original, target); err != nil {
		return nil, err
	}
	return k.Interface.Update(original, target, force)
}

func (k *Client) UpdateThreeWayMerge(original, target kube.ResourceList, force bool) (*kube.Result, error) {
	if err := k.check(original, target); err != nil {
		return nil, err
	}
	kc, ok := k.Interface.(kube.InterfaceThreeWayMerge)
	if !ok {
		return nil, fmt.Errorf("kubernetes client %T cannot update by three-way merge", k.Interface)
	}
	return kc.UpdateThreeWayMerge(original, target, force)
}

func (k *Client) Delete(resources kube.ResourceList) (*kube.Result, []error) {
	if err := k.check(resources); err != nil {
		return nil, []error{err}
	}
	return k.Interface.Delete(resources)
}

func (k *Client) DeleteWithPropagationPolicy(resources kube.ResourceList, policy metav1.DeletionPropagation) (*kube.Result, []error) {
	if err := k.check(resources); err != nil {
		return nil, []error{err}
	}
	if kc, ok := k.Interface.(kube.InterfaceDeletionPropagation); ok {
		return kc.DeleteWithPropagationPolicy(resources, policy)
	}
	return k.Interface.Delete(resources) // as Helm does without it
}

// WaitForDelete does not wait when the wrapped client cannot, as Helm
// does not.
func (k *Client) WaitForDelete(resources kube.ResourceList, timeout time.Duration) error {
	if kc, ok := k.Interface.(kube.InterfaceExt); ok {
		return kc.WaitForDelete(resources, timeout)
	}
	return nil
}

func (k *Client) GetPodList(namespace string, opts metav1.ListOptions) (*v1.PodList, error) {
	if kc, ok := k.Interface.(kube.InterfaceLogs); ok {
		return kc.GetPodList(namespace, opts)
	}
	return nil, fmt.Errorf("kubernetes client %T cannot list pods", k.Interface)
}

func (k *Client) OutputContainerLogsForPodList(pods *v1.PodList, namespace string, w func(namespace, pod, container string) io.Writer) error {
	if kc, ok := k.Interface.(kube.InterfaceLogs); ok {
		return kc.OutputContainerLogsForPodList(pods, namespace, w)
	}
	return fmt.Errorf("kubernetes client %T cannot read logs", k.Interface)
}

func (k *Client) Get(resources kube.ResourceList, related bool) (map[string][]runtime.Object, error) {
	if kc, ok := k.Interface.(kube.InterfaceResources); ok {
		return kc.Get(resources, related)
	}
	return nil, fmt.Errorf("kubernetes client %T cannot get resources", k.Interface)
}

func (k *Client) BuildTable(r io.Reader, validate bool) (kube.ResourceList, error) {
	if kc, ok := k.Interface.(kube.InterfaceResources); ok {
		return kc.BuildTable(r, validate)
	}
	return nil, fmt.Errorf("kubernetes client %T cannot build tables", k.Interface)
}
