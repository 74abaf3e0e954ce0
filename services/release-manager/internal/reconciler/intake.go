// Intake: what the config DB watch and the release index say, taken in
// as the desired entries and keys on the work queue. Nothing is decided
// here; the loop (loop.go) looks again at each key.

package reconciler

import (
	"context"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Ready reports whether the first full list of entries has been taken in.
func (r *Reconciler) Ready(ctx context.Context) error { return r.listed.Ready(ctx) }

// Resync requeues every known deployment and release, and forgets the
// attempt budgets: called when the chart repository changed, since a
// chart that was missing may now be there.
func (r *Reconciler) Resync() {
	r.attempts.forgetAll()
	for _, id := range r.desiredIDs() {
		r.queue.Add(id)
	}
	r.enqueueReleases()
}

// ReleaseChanged is the release index's event handler.
func (r *Reconciler) ReleaseChanged(name string) {
	r.noteUnowned(name)
	if id, ok := configdb.IDFromReleaseName(r.cfg.Prefix, name); ok {
		r.queue.Add(id)
	}
}

// noteUnowned keeps the report of releases without our label and with no
// helm entry up to date for one release name: a log line when one is first
// seen, and the gauge. Until the first list of entries is in, every
// release would look entry-less, so nothing is reported before.
func (r *Reconciler) noteUnowned(name string) {
	if r.listed.Ready(context.Background()) != nil {
		return
	}
	obs, found := r.cfg.Index.Latest(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	unowned := found && !obs.Owned
	if id, ok := configdb.IDFromReleaseName(r.cfg.Prefix, name); ok && unowned {
		_, hasEntry := r.desired[id]
		unowned = !hasEntry
	}
	switch {
	case unowned && !r.unowned[name]:
		r.unowned[name] = true
		r.cfg.Log.Warn("release without this deployer's label and with no helm entry",
			"release", name, "status", string(obs.Status), "uninstall_unowned", r.cfg.Options.UninstallUnowned)
	case !unowned && r.unowned[name]:
		delete(r.unowned, name)
	}
	r.metrics.unownedReleases.Set(float64(len(r.unowned)))
}

func (r *Reconciler) enqueueReleases() {
	for _, name := range r.cfg.Index.Names() {
		r.ReleaseChanged(name)
	}
}

func (r *Reconciler) onResync(list configdb.DeploymentList, reason string) {
	next := make(map[string]entry, len(list.Deployments)+len(list.Errors))
	for _, d := range list.Deployments {
		if d.IsHelm() {
			next[d.ID] = entry{dep: d}
		} else {
			r.logOtherKind(d)
		}
	}
	for _, e := range list.Errors {
		if e.ID != "" {
			next[e.ID] = entry{err: e.Err}
		} else {
			r.cfg.Log.Warn("unreadable key under /deploy/", "error", e.Err)
		}
	}
	r.mu.Lock()
	previous := r.desired
	r.desired = next
	r.mu.Unlock()
	r.part.UnwriteAll()
	// Everything that is, was, or has a release is looked at: a
	// deployment deleted during a gap is found through its release.
	for id := range next {
		r.queue.Add(id)
	}
	for id := range previous {
		r.queue.Add(id)
	}
	r.listed.Open()
	r.enqueueReleases()
	r.cfg.Log.Info("deployments listed", "reason", reason, "helm_deployments", len(next), "revision", list.Revision)
}

func (r *Reconciler) onEvent(ev configdb.DeploymentEvent) {
	if ev.ID == "" {
		r.cfg.Log.Warn("unreadable key under /deploy/", "error", ev.Err)
		return
	}
	r.mu.Lock()
	switch {
	case ev.Deleted:
		delete(r.desired, ev.ID)
	case ev.Err != nil:
		r.desired[ev.ID] = entry{err: ev.Err}
	case !ev.Deployment.IsHelm():
		// Now another deployer's: this one lets go of its release.
		delete(r.desired, ev.ID)
		r.logOtherKind(ev.Deployment)
	default:
		r.desired[ev.ID] = entry{dep: ev.Deployment}
	}
	r.mu.Unlock()
	if name, err := configdb.ReleaseName(r.cfg.Prefix, ev.ID); err == nil {
		r.noteUnowned(name)
	}
	r.queue.Add(ev.ID)
}

// logOtherKind says that an entry is left alone: it writes no state entry
// for another deployer's entry, so without this line a script whose kind
// has a typo ("Helm") would see nothing anywhere.
func (r *Reconciler) logOtherKind(d configdb.Deployment) {
	r.cfg.Log.Info("deployment entry left to other deployers: not of kind helm", "deployment", d.ID, "kind", d.Kind)
}
