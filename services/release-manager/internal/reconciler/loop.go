// The loop: the workers' reconcile of one deployment, from observing
// its release to the one Helm action plan.Decide names, fenced by the
// term (act).

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
)

// Run follows the config DB and works the queue until ctx ends. The
// release index must be running and synced before Run is called.
func (r *Reconciler) Run(ctx context.Context) error {
	watch := func(ctx context.Context) error {
		if err := r.cfg.Store.WatchDeployments(ctx, configdb.DeploymentWatch{OnResync: r.onResync, OnEvent: r.onEvent}); err != nil {
			return fmt.Errorf("watch deployments: %w", err)
		}
		return nil
	}
	return controller.Loop{Queue: r.queue, Workers: r.cfg.Options.Workers, Log: r.cfg.Log, Reconcile: r.work,
		Gate: r.listed, Sources: []controller.Source{watch, r.part.Watch}, Recovery: r.recovery}.Run(ctx)
}

// work is a worker's reconcile within the term (controller.InTerm).
func (r *Reconciler) work(ctx context.Context, id string) error {
	return controller.InTerm(r.cfg.Term.Over, r.reconcile)(ctx, id)
}

// fenced reports whether err says the term is over: a config DB write
// fenced out, or an action refused for want of leadership.
func fenced(err error) bool {
	return errors.Is(err, leader.ErrNotLeader) || errors.Is(err, configdb.ErrFenced)
}

// maxSteps bounds one reconcile's actions: the longest path is adopt,
// then unlock (or finish an uninstall), then install or upgrade, then
// observe.
const maxSteps = 5

// reconcile brings one deployment's release in line with its entry: it
// observes, asks plan.Decide, runs the one action named, and looks again
// until nothing is to be done.
func (r *Reconciler) reconcile(ctx context.Context, id string) (err error) {
	start := time.Now()
	defer func() { r.countReconcile(start, err) }()
	r.mu.Lock()
	e, present := r.desired[id]
	r.mu.Unlock()

	name, nameErr := configdb.ReleaseName(r.cfg.Prefix, id)
	if nameErr != nil {
		if !present {
			return nil // no entry and no release can have this name
		}
		if e.err == nil {
			e.err = nameErr
		}
	}
	t := target{id: id, name: name, dep: e.dep}
	t.want.UninstallUnowned = r.cfg.Options.UninstallUnowned
	switch {
	case present && e.err != nil:
		t.want.Err = e.err
	case present:
		t.want.Present, t.want.Digest = true, plan.Digest(e.dep)
	}

	// Fast path: the cache says nothing is to be done, so no API call.
	cached, inCache := r.cfg.Index.Latest(name)
	if t.want.Err == nil && (inCache || !present) && plan.Decide(t.want, cached) == plan.None {
		if present && !r.takeObjectsChanged(id) && r.alreadyWritten(id, cached) {
			return nil
		}
		return r.settled(ctx, t, cached)
	}
	// A new deployment whose release the (synced) cache has never seen is
	// installed without reading first: Helm's install reads the history
	// itself and refuses a name in use, and then the loop looks again.
	trustAbsent := t.want.Present && !inCache
	for range maxSteps {
		var rel *release.Release
		if !trustAbsent {
			rel, err = r.cfg.Helm.Last(name)
			if err != nil && !errors.Is(err, helmexec.ErrNotFound) {
				return err
			}
		}
		trustAbsent = false
		obs := plan.ObservedFrom(rel)
		act := plan.Decide(t.want, obs)
		switch act {
		case plan.None:
			return r.settled(ctx, t, obs)
		case plan.ReportError:
			return r.reportBadEntry(ctx, t, obs)
		case plan.Adopt:
			err = r.adopt(ctx, t, rel)
		case plan.Unlock:
			err = r.unlock(ctx, t, rel)
		case plan.Uninstall:
			// Helm's uninstall deletes every revision or fails: once it
			// returns nil there is nothing to read again (a label-selected
			// LIST over every release Secret).
			err = r.uninstall(ctx, t)
			trustAbsent = err == nil
		case plan.Install, plan.Upgrade:
			err = r.apply(ctx, act, t, obs)
			if errors.Is(err, helmexec.ErrNameInUse) {
				continue // the cache lagged: look at the live release
			}
			return err
		default:
			return fmt.Errorf("deployment %s: plan named unknown action %q", id, act)
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("deployment %s: not settled after %d steps", id, maxSteps)
}

// target is what one reconcile works on.
type target struct {
	id, name string
	dep      configdb.Deployment
	want     plan.Desired
}

func (r *Reconciler) countReconcile(start time.Time, err error) {
	r.metrics.reconcileSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		r.metrics.reconciles.WithLabelValues("success").Inc()
	case errors.Is(err, controller.ErrPermanent):
		r.metrics.reconciles.WithLabelValues("permanent").Inc()
	default:
		r.metrics.reconciles.WithLabelValues("error").Inc()
	}
}

// settled records a release that needs no action: its state for a present
// entry, or the removal of an orphaned state entry.
func (r *Reconciler) settled(ctx context.Context, t target, obs plan.Observed) error {
	r.noteUnowned(t.name)
	if t.want.Present {
		objs, lerr := r.lookAtObjects(ctx, t, obs)
		if err := r.writeState(ctx, t, obs, objs, "", ""); err != nil {
			return err
		}
		return lerr
	}
	return r.dropOrphanState(ctx, t.id)
}

// reportBadEntry says in the state entry why an entry cannot be deployed,
// leaving any release as it is, and waits for the entry to change.
func (r *Reconciler) reportBadEntry(ctx context.Context, t target, obs plan.Observed) error {
	reason := "bad-entry"
	if errors.Is(t.want.Err, configdb.ErrInvalidReleaseName) || errors.Is(t.want.Err, configdb.ErrInvalidID) {
		reason = "release-name"
	}
	r.metrics.entryErrors.WithLabelValues(reason).Inc()
	r.cfg.Log.Warn("deployment entry cannot be deployed", "deployment", t.id, "error", t.want.Err)
	if werr := r.writeError(ctx, t, obs, t.want.Err); werr != nil {
		return werr
	}
	return controller.Permanent(t.want.Err)
}

// act runs one Helm action with its log line and metrics, once etcd has
// said that the term still holds. An action that fails after the term
// ended (a paused process whose requests the Kubernetes client refused on
// resuming) returns an error wrapping leader.ErrNotLeader, whatever Helm
// made of the refusal.
func (r *Reconciler) act(ctx context.Context, a plan.Action, id, name string, fn func() error) error {
	if err := r.cfg.Term.Check(ctx); err != nil {
		if errors.Is(err, leader.ErrNotLeader) {
			r.cfg.Term.Fenced(leader.FencedHelmAction)
		}
		return fmt.Errorf("deployment %s: %s not started: %w", id, a, err)
	}
	start := time.Now()
	err := fn()
	r.metrics.actionSeconds.WithLabelValues(string(a)).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, leader.ErrNotLeader) && !r.cfg.Term.Valid() {
		err = fmt.Errorf("%w: term ended during the action: %w", leader.ErrNotLeader, err)
	}
	if err != nil {
		r.metrics.actions.WithLabelValues(string(a), "error").Inc()
		r.cfg.Log.Warn("helm action failed", "deployment", id, "release", name, "action", string(a), "error", err)
		return err
	}
	r.metrics.actions.WithLabelValues(string(a), "success").Inc()
	r.cfg.Log.Info("helm action done", "deployment", id, "release", name, "action", string(a), "duration", time.Since(start).String())
	return nil
}
