// Package nadcache keeps the NetworkAttachmentDefinitions labelled as
// available for allocation, in every namespace, in an informer cache
// trimmed to what a resource entry needs.
//
// The typed NAD client library cannot be had here, so the informer is
// client-go's dynamic one; the objects are unstructured.
//
// The mirror reads it; which NADs it follows: docs/architecture.md, §4. From an entry to a release and a state.
package nadcache

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// GVR names the NAD resource (CRD network-attachment-definitions.k8s.cni.cncf.io).
var GVR = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}

// Labels on a NAD that the resource-monitor reads.
const (
	// LabelAvailable marks a NAD for mirroring when "true".
	LabelAvailable = "sdp.skao.int/available-for-allocation"
	// LabelSupernet names the NAD's supernet.
	LabelSupernet = "sdp.skao.int/supernet"
)

// Selector is the label selector of the NADs this service mirrors.
const Selector = LabelAvailable + "=true"

// watched is what the API server filters the informer by: the label with
// any value, so that a NAD labelled "True" or "yes", which Selector leaves
// out, is seen and reported as not selected rather than silently ignored
// (see NotSelected). A NAD that loses the label leaves the cache as a
// delete; one whose value changes is an update.
const watched = LabelAvailable

// NAD is a cached NAD, as the mirror needs it.
type NAD struct {
	Namespace, Name string
	// ResourceVersion changes with every change of the object, so a parse
	// result can be kept until it does.
	ResourceVersion string
	// Supernet is the supernet label's value ("" when absent).
	Supernet string
	// Available is the value of LabelAvailable; only "true" selects the
	// NAD.
	Available string
	// Config is spec.config; HasConfig is false when the field is missing
	// or not a string.
	Config    string
	HasConfig bool
}

// Key is the NAD's cache key, "<namespace>/<name>".
func (n NAD) Key() string { return n.Namespace + "/" + n.Name }

// Cache is the NAD informer.
type Cache struct {
	informer cache.SharedIndexInformer
}

// New returns a cache over client. resync is the informer's resync period
// (0: none).
func New(client dynamic.Interface, resync time.Duration, log *slog.Logger) (*Cache, error) {
	inf := dynamicinformer.NewFilteredDynamicInformer(client, GVR, metav1.NamespaceAll, resync, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = watched }).Informer()
	if err := inf.SetTransform(Trim); err != nil {
		return nil, fmt.Errorf("NAD informer: %w", err)
	}
	if log != nil {
		// The default handler writes through klog; this one says what is
		// probably wrong when the resource is not served.
		if err := inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			if apierrors.IsNotFound(err) {
				log.Warn("cannot list NetworkAttachmentDefinitions; is their CRD installed? retrying", "resource", GVR.String(), "error", err)
				return
			}
			cache.DefaultWatchErrorHandler(ctx, r, err)
		}); err != nil {
			return nil, fmt.Errorf("NAD informer: %w", err)
		}
	}
	return &Cache{informer: inf}, nil
}

// Trim keeps only what an entry needs: name, namespace, resource version,
// the supernet label and spec.config. Managed fields, annotations and the
// rest would be most of the cache's memory.
func Trim(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // tombstones and the like pass through
	}
	meta := map[string]any{
		"name":            u.GetName(),
		"namespace":       u.GetNamespace(),
		"uid":             string(u.GetUID()),
		"resourceVersion": u.GetResourceVersion(),
	}
	labels := map[string]any{}
	for _, k := range []string{LabelAvailable, LabelSupernet} {
		if v, ok := u.GetLabels()[k]; ok {
			labels[k] = v
		}
	}
	meta["labels"] = labels
	trimmed := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": u.GetAPIVersion(),
		"kind":       u.GetKind(),
		"metadata":   meta,
	}}
	if cfg, found, err := unstructured.NestedFieldNoCopy(u.Object, "spec", "config"); found && err == nil {
		trimmed.Object["spec"] = map[string]any{"config": cfg}
	}
	return trimmed, nil
}

// FromObject reads a NAD from an informer object (or a tombstone's).
func FromObject(obj any) (NAD, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return NAD{}, false
	}
	n := NAD{Namespace: u.GetNamespace(), Name: u.GetName(), ResourceVersion: u.GetResourceVersion(),
		Supernet: u.GetLabels()[LabelSupernet], Available: u.GetLabels()[LabelAvailable]}
	n.Config, n.HasConfig, _ = unstructured.NestedString(u.Object, "spec", "config")
	return n, true
}

// List returns every cached NAD that Selector selects, in no order.
func (c *Cache) List() []NAD { return c.list(true) }

// NotSelected returns every cached NAD that carries LabelAvailable with a
// value other than "true" (or "false", the documented way to leave a NAD
// out), in no order: most likely meant to be selected ("True", "yes"), and
// worth a word in the log.
func (c *Cache) NotSelected() []NAD { return c.list(false) }

func (c *Cache) list(selected bool) []NAD {
	objs := c.informer.GetStore().List()
	nads := make([]NAD, 0, len(objs))
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		// The API server filtered by the label's presence; this keeps a
		// cache fed by something else (a test) honest.
		value, labelled := u.GetLabels()[LabelAvailable]
		if !labelled || IsSelected(value) != selected || (!selected && value == "false") {
			continue
		}
		if n, ok := FromObject(u); ok {
			nads = append(nads, n)
		}
	}
	return nads
}

// IsSelected reports whether a LabelAvailable value selects its NAD.
func IsSelected(value string) bool { return value == "true" }

// NotSelectedReason says why a NAD labelled value is not selected.
func NotSelectedReason(value string) string {
	return fmt.Sprintf("label value %q is not \"true\"", value)
}

// Informer is the underlying informer, for event handlers.
func (c *Cache) Informer() cache.SharedIndexInformer { return c.informer }

// Run runs the informer until ctx ends.
func (c *Cache) Run(ctx context.Context) { c.informer.RunWithContext(ctx) }

// HasSynced reports whether the first list has been read.
func (c *Cache) HasSynced() bool { return c.informer.HasSynced() }
