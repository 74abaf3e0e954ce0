// The objects of each release, looked after once the release is settled:
// drift found and handled (package drift), readiness decided (package
// readiness), both said in the release part of the state entry.

package reconciler

import (
	"context"
	"errors"

	"helm.sh/helm/v3/pkg/release"
	"k8s.io/client-go/dynamic"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/drift"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/readiness"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Objects looks after the objects of each release; nil looks after none.
type Objects interface {
	Look(ctx context.Context, release string, revision int) (ObjectsReport, error)
	Forget(release string)
}

// ObjectsReport is what the release part says of a release's objects.
type ObjectsReport struct {
	// Looked is false when nothing was looked at: the part keeps what it
	// says for the same revision.
	Looked                     bool
	Readiness, ReadinessReason string
	Drift                      []configdb.DriftRecord
}

// ReleaseObjects is Objects over a drift.Checker and the readiness rules.
type ReleaseObjects struct {
	Checker   *drift.Checker
	Dynamic   dynamic.Interface
	Namespace string
}

// Look checks a revision's objects for drift, then decides its readiness.
// What it found is returned with the error of what it could not do.
func (o ReleaseObjects) Look(ctx context.Context, name string, revision int) (ObjectsReport, error) {
	rep := ObjectsReport{Looked: true}
	var derr error
	rep.Drift, derr = o.Checker.Check(ctx, name, revision)
	objs, err := o.Checker.Objects(name, revision)
	if err != nil {
		return ObjectsReport{}, errors.Join(derr, err)
	}
	res, err := readiness.Of(ctx, o.Dynamic, o.Namespace, objs)
	if err != nil {
		return ObjectsReport{}, errors.Join(derr, err)
	}
	rep.Readiness, rep.ReadinessReason = res.State, res.Reason
	return rep, derr
}

// Forget drops what is known of an uninstalled release.
func (o ReleaseObjects) Forget(name string) { o.Checker.Forget(name) }

// ObjectsChanged says that an object of a release was deleted, or its spec
// or status changed: the release's deployment is looked at again, past the
// fast path that trusts what was last written.
func (r *Reconciler) ObjectsChanged(name string) {
	id, ok := configdb.IDFromReleaseName(r.cfg.Prefix, name)
	if !ok {
		return
	}
	r.markObjectsChanged(id)
	r.queue.Add(id)
}

func (r *Reconciler) markObjectsChanged(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.objectsChanged[id] = true
}

// takeObjectsChanged reports and clears the mark.
func (r *Reconciler) takeObjectsChanged(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := r.objectsChanged[id]
	delete(r.objectsChanged, id)
	return changed
}

// lookAtObjects looks at the objects of a deployed release of ours.
func (r *Reconciler) lookAtObjects(ctx context.Context, t target, obs plan.Observed) (ObjectsReport, error) {
	if r.cfg.Objects == nil || !obs.Exists || !obs.Owned || obs.Status != release.StatusDeployed {
		return ObjectsReport{}, nil
	}
	rep, err := r.cfg.Objects.Look(ctx, t.name, obs.Revision)
	if err != nil {
		// Looked at again with backoff, past the fast path.
		r.markObjectsChanged(t.id)
	}
	return rep, err
}
