// Package releaseindex keeps, from a metadata-only informer on Helm's
// release Secrets, what the release-manager needs to know about the
// releases of its namespace without reading them: the latest revision of each, its status
// and the digest of what it deployed. Helm writes these as Secret labels,
// so no release payload (which holds the whole chart) is ever held in
// memory. Reading the index costs no API call; the reconciler confirms with
// a live read before it acts, so a lagging cache can delay work but never
// cause a wrong action.
//
// The reconciler reads it before any live read; why labels only: docs/architecture.md, §5. Why it is built this way.
package releaseindex

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
)

const byRelease = "release"

// Helm's storage labels.
const (
	labelName    = "name"
	labelOwner   = "owner"
	labelStatus  = "status"
	labelVersion = "version"
)

// Index is the informer-backed view of the Helm releases in a namespace.
type Index struct {
	informer cache.SharedIndexInformer
}

// New returns an index of every Helm release in namespace, those with the
// release-manager's ownership label and those without (installed by the
// Python deployer, or by hand): unowned ones must be seen to be adopted or
// reported. Only metadata is held, a few hundred bytes per revision.
func New(client metadata.Interface, namespace string, resync time.Duration) *Index {
	selector := labelOwner + "=helm"
	inf := metadatainformer.NewFilteredMetadataInformer(client, schema.GroupVersionResource{Version: "v1", Resource: "secrets"},
		namespace, resync, cache.Indexers{byRelease: releaseIndexFunc},
		func(o *metav1.ListOptions) { o.LabelSelector = selector }).Informer()
	// Before the informer starts, so it holds from the first list on.
	if err := inf.SetTransform(trim); err != nil {
		panic(fmt.Sprintf("release index: %v", err)) // only fails once started
	}
	return &Index{informer: inf}
}

// trim drops from a release Secret's metadata what the index never reads:
// its managed fields (a few hundred bytes per revision, more than the
// labels it reads), annotations, owner references and finalizers. It
// changes the object in place, which the informer allows, rather than
// copy what stays.
func trim(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.ManagedFields, m.Annotations, m.OwnerReferences, m.Finalizers = nil, nil, nil, nil
	}
	return obj, nil
}

func releaseIndexFunc(obj any) ([]string, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, err
	}
	if name := m.GetLabels()[labelName]; name != "" {
		return []string{name}, nil
	}
	return nil, nil
}

func metaOf(obj any) (metav1.Object, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("release index: unexpected object %T", obj)
	}
	return m, nil
}

// OnChange calls fn with the release name of every added, changed or
// deleted release Secret.
func (x *Index) OnChange(fn func(release string)) error {
	call := func(obj any) {
		if m, err := metaOf(obj); err == nil {
			if name := m.GetLabels()[labelName]; name != "" {
				fn(name)
			}
		}
	}
	_, err := x.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    call,
		UpdateFunc: func(_, n any) { call(n) },
		DeleteFunc: call,
	})
	return err
}

// Run runs the informer until ctx ends.
func (x *Index) Run(ctx context.Context) { x.informer.RunWithContext(ctx) }

// HasSynced reports whether the first list has been read.
func (x *Index) HasSynced() bool { return x.informer.HasSynced() }

// Latest returns the latest stored revision of a release, owned or not
// (Observed.Owned says which).
func (x *Index) Latest(name string) (plan.Observed, bool) {
	objs, err := x.informer.GetIndexer().ByIndex(byRelease, name)
	if err != nil || len(objs) == 0 {
		return plan.Observed{}, false
	}
	var best plan.Observed
	found := false
	for _, o := range objs {
		m, err := metaOf(o)
		if err != nil {
			continue
		}
		obs, ok := observed(m.GetLabels())
		if ok && (!found || obs.Revision > best.Revision) {
			best, found = obs, true
		}
	}
	return best, found
}

func observed(labels map[string]string) (plan.Observed, bool) {
	rev, err := strconv.Atoi(labels[labelVersion])
	if err != nil {
		return plan.Observed{}, false
	}
	return plan.Observed{
		Exists:   true,
		Owned:    labels[plan.LabelManagedBy] == plan.ManagedByValue,
		Status:   release.Status(labels[labelStatus]),
		Revision: rev,
		Digest:   labels[plan.LabelDigest],
	}, true
}

// Names lists the releases in the index, owned or not.
func (x *Index) Names() []string { return x.informer.GetIndexer().ListIndexFuncValues(byRelease) }

// CountByStatus counts owned releases by the status of their latest
// revision.
func (x *Index) CountByStatus() map[string]int {
	counts := map[string]int{}
	for _, name := range x.Names() {
		if o, ok := x.Latest(name); ok && o.Owned {
			counts[string(o.Status)]++
		}
	}
	return counts
}
