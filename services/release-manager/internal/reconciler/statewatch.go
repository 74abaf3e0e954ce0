package reconciler

import (
	"maps"
	"slices"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// The release part of a state entry deleted or overwritten by someone else
// is repaired through r.part (controller.StatePart): a change whose release
// part differs from what this service means it to hold puts the deployment
// on the queue, where the ordinary reconcile writes it again.

func (r *Reconciler) newStatePart() *controller.StatePart[plan.Observed, configdb.ReleaseStatus] {
	return controller.NewStatePart[plan.Observed](controller.StatePartConfig[configdb.ReleaseStatus]{
		Name: "release part", Log: r.cfg.Log, Store: r.cfg.Store, Queue: r.queue,
		Owned: r.hasEntry, Keys: r.desiredIDs,
		Part: func(ch configdb.StateChange) (configdb.ReleaseStatus, bool) {
			if !ch.Found || ch.State.Release == nil {
				return configdb.ReleaseStatus{}, false
			}
			return *ch.State.Release, true
		},
		Same: sameRelease,
	})
}

// hasEntry reports whether id has a helm deployment entry (or one that
// does not decode).
func (r *Reconciler) hasEntry(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.desired[id]
	return ok
}

// desiredIDs lists the deployments with an entry.
func (r *Reconciler) desiredIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Keys(r.desired))
}

// sameRelease compares two release parts, their time aside: a part that
// differs only in when it was written says nothing new.
func sameRelease(a, b configdb.ReleaseStatus) bool {
	a.Time, b.Time = "", ""
	return a.Equal(b)
}

// intend wraps a release part update: what it returns is what this service
// means the part to hold, remembered before the write (so that its echo,
// which may come before the write call returns, is known as ours). A part
// whose revision is unchanged but which lost its chart version or warning
// (deleted by hand) gets them back from what was meant before, since the
// release index that most writes start from does not know them.
func (r *Reconciler) intend(id string, fn func(cur configdb.ReleaseStatus, exists bool) configdb.ReleaseStatus) func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus {
	return func(cur configdb.ReleaseStatus, exists bool) configdb.ReleaseStatus {
		next := fn(cur, exists)
		if before, ok := r.part.Intended(id); ok && before.Revision == next.Revision && before.Name == next.Name {
			restored := false
			if next.Version == "" && before.Version != "" {
				next.Version, restored = before.Version, true
			}
			if next.Warning == "" && before.Warning != "" {
				next.Warning, restored = before.Warning, true
			}
			if next.Readiness == "" && before.Readiness != "" && next.Status == configdb.ReleaseDeployed {
				next.Readiness, next.ReadinessReason, next.Drift = before.Readiness, before.ReadinessReason, before.Drift
				restored = true
			}
			if restored && !sameRelease(next, cur) {
				next.SetTime(r.cfg.Now())
			}
		}
		r.part.Intend(id, next)
		return next
	}
}
