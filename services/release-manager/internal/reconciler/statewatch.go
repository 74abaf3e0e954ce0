package reconciler

import (
	"context"
	"maps"
	"slices"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// The release part of a state entry deleted or overwritten by someone else
// is repaired within moments: the state entries are watched, and a change
// whose release part differs from what this service would write puts the
// deployment on the queue, where the ordinary reconcile writes it again.
// The service's own writes come back as changes too; they match what it
// meant to write and are let be, as are the pod-monitor's writes of its
// own part.

// watchStates is the term's source of state entry changes.
func (r *Reconciler) watchStates(ctx context.Context) error {
	return controller.WatchStates(ctx, r.cfg.Store, configdb.StateWatch{OnResync: r.onStateResync, OnChange: r.onStateChange})
}

// onStateResync: after a gap in the watch any part may have changed
// unseen, so every deployment's part is written again where it differs. At
// the start the deployments' first list does that.
func (r *Reconciler) onStateResync(reason string) {
	controller.RequeueAfterGap(reason, r.queue, func() []string {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.written = map[string]plan.Observed{}
		return slices.Collect(maps.Keys(r.desired))
	})
}

func (r *Reconciler) onStateChange(ch configdb.StateChange) {
	r.mu.Lock()
	_, present := r.desired[ch.ID]
	want, known := r.intended[ch.ID]
	var got *configdb.ReleaseStatus
	if ch.Found && ch.Err == nil {
		got = ch.State.Release
	}
	// A deployment without an entry has its state entry removed by its
	// own reconcile; one not written yet in this term is on its way.
	if !present || (known && got != nil && sameRelease(*got, want)) {
		r.mu.Unlock()
		return
	}
	delete(r.written, ch.ID)
	r.mu.Unlock()
	r.cfg.Log.Info("state entry's release part changed by someone else; writing it again", "deployment", ch.ID,
		"found", ch.Found, "revision", ch.Revision)
	r.queue.Add(ch.ID)
}

// sameRelease compares two release parts, their time aside: a part that
// differs only in when it was written says nothing new.
func sameRelease(a, b configdb.ReleaseStatus) bool {
	a.Time, b.Time = "", ""
	return a == b
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
		r.mu.Lock()
		defer r.mu.Unlock()
		if before, ok := r.intended[id]; ok && before.Revision == next.Revision && before.Name == next.Name {
			restored := false
			if next.Version == "" && before.Version != "" {
				next.Version, restored = before.Version, true
			}
			if next.Warning == "" && before.Warning != "" {
				next.Warning, restored = before.Warning, true
			}
			if restored && !sameRelease(next, cur) {
				next.SetTime(r.cfg.Now())
			}
		}
		r.intended[id] = next
		return next
	}
}

// forgetIntent drops what was meant for a deployment whose state entry is
// removed.
func (r *Reconciler) forgetIntent(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.intended, id)
}
