// The watch of the releases' objects: metadata only, one informer per
// resource the releases use, started the first time a release needs it.

package drift

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// Helm's marks on every object it creates.
const (
	labelManagedBy    = "app.kubernetes.io/managed-by"
	annotationRelease = "meta.helm.sh/release-name"
	annotationNS      = "meta.helm.sh/release-namespace"
)

// watcher holds the metadata informers. Their caches hold, per object,
// only what drift is found by: name, the release it belongs to, its
// generation and resource version, and whether it is being deleted.
type watcher struct {
	client    metadata.Interface
	namespace string
	ctx       context.Context
	onChange  func(release string)

	mu  sync.Mutex
	inf map[schema.GroupVersionResource]cache.SharedIndexInformer
}

func newWatcher(ctx context.Context, client metadata.Interface, namespace string, onChange func(string)) *watcher {
	return &watcher{client: client, namespace: namespace, ctx: ctx, onChange: onChange,
		inf: map[schema.GroupVersionResource]cache.SharedIndexInformer{}}
}

// informer returns gvr's informer, started and synced, or an error when it
// does not sync within wait (the API server away, a resource the
// release-manager may not list). status says that the resource's status
// changes are passed on too (ReadinessKinds); it is fixed when the
// informer is made.
func (w *watcher) informer(gvr schema.GroupVersionResource, status bool, wait time.Duration) (cache.SharedIndexInformer, error) {
	w.mu.Lock()
	inf, ok := w.inf[gvr]
	if !ok {
		inf = metadatainformer.NewFilteredMetadataInformer(w.client, gvr, w.namespace, 0, cache.Indexers{},
			func(o *metav1.ListOptions) { o.LabelSelector = labelManagedBy + "=Helm" }).Informer()
		if err := inf.SetTransform(trim); err != nil {
			w.mu.Unlock()
			return nil, err
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
			// Objects already there when the informer starts are not
			// changes: the release's check after the sync looks at them.
			AddFunc:    func(obj any, initial bool) { w.changed(nil, obj, initial, false) },
			UpdateFunc: func(old, obj any) { w.changed(old, obj, false, status) },
			DeleteFunc: func(obj any) { w.changed(nil, obj, false, false) },
		}); err != nil {
			w.mu.Unlock()
			return nil, err
		}
		w.inf[gvr] = inf
		go inf.RunWithContext(w.ctx)
	}
	w.mu.Unlock()
	if inf.HasSynced() {
		return inf, nil
	}
	ctx, cancel := context.WithTimeout(w.ctx, wait)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("watch of %s not synced within %v", gvr.String(), wait)
	}
	return inf, nil
}

// changed passes on a change that may be drift or a change of readiness:
// an object deleted, one whose spec changed, and any change of the kinds
// whose status readiness reads. Other objects' status updates leave their
// generation as it is and are not passed on; an object without a
// generation (ConfigMap, Service) is passed on at any change, which for
// those is rare.
func (w *watcher) changed(old, obj any, initial, status bool) {
	if initial {
		return
	}
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	if o, ok := old.(*metav1.PartialObjectMetadata); ok && !status && m.Generation != 0 && o.Generation == m.Generation &&
		(o.DeletionTimestamp == nil) == (m.DeletionTimestamp == nil) {
		return
	}
	if rel := m.Annotations[annotationRelease]; rel != "" {
		w.onChange(rel)
	}
}

// ReadinessKinds are the kinds whose status says whether a release is
// ready (package readiness reads them); their informers pass on status
// changes too.
var ReadinessKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "Job": true,
	"PersistentVolumeClaim": true}

// trim keeps of an object's metadata what drift is found by.
func trim(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	rel := m.Annotations[annotationRelease]
	m.ManagedFields, m.Labels, m.OwnerReferences, m.Finalizers = nil, nil, nil, nil
	m.Annotations = nil
	if rel != "" {
		m.Annotations = map[string]string{annotationRelease: rel}
	}
	return m, nil
}

// get returns an object's cached metadata, or false when the cache does not
// hold it.
func get(inf cache.SharedIndexInformer, namespace, name string) (*metav1.PartialObjectMetadata, bool) {
	obj, ok, err := inf.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	return m, ok
}
