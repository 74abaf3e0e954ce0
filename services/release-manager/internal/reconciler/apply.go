package reconciler

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// apply installs or upgrades (act), within the attempt budget of this
// content of the entry. It returns an error wrapping
// helmexec.ErrNameInUse when an install found the name taken, so that the
// loop reads the live release and decides again.
func (r *Reconciler) apply(ctx context.Context, act plan.Action, t target, obs plan.Observed) error {
	if n, out := r.attempts.exhausted(t.id, t.want.Digest); out {
		r.metrics.entryErrors.WithLabelValues("gave-up").Inc()
		return controller.Permanent(fmt.Errorf("deployment %s: gave up after %d failed attempts; change the entry to try again", t.id, n))
	}
	loaded, err := r.cfg.Charts.Fetch(ctx, t.dep.Chart, t.dep.Version)
	if err != nil {
		return r.failed(ctx, t, obs, "chart", fmt.Errorf("chart %q: %w", t.dep.Chart, err))
	}
	ch := loaded.Chart
	pending := configdb.ReleasePendingInstall
	if act == plan.Upgrade {
		pending = configdb.ReleasePendingUpgrade
	}
	err = r.writeStatus(ctx, statusUpdate{id: t.id, name: t.name, chart: t.dep.Chart, status: pending,
		revision: obs.Revision, chartVersion: ch.Metadata.Version, warning: loaded.Warning})
	if errors.Is(err, configdb.ErrNoDeployment) {
		return nil // deleted meanwhile: the next reconcile uninstalls
	}
	if fenced(err) {
		return err
	}
	if err != nil {
		r.cfg.Log.Warn("state write failed", "deployment", t.id, "error", err)
	}
	spec := helmexec.Spec{Name: t.name, Chart: ch, Values: helmValues(t.dep.Values), Labels: plan.Labels(t.want.Digest),
		Timeout: r.cfg.Timeout, PostRenderer: r.cfg.Confine}
	var rel *release.Release
	err = r.act(ctx, act, t.id, t.name, func() error {
		var aerr error
		if act == plan.Install {
			rel, aerr = r.cfg.Helm.Install(ctx, spec)
		} else {
			rel, aerr = r.cfg.Helm.Upgrade(ctx, spec)
		}
		return aerr
	})
	switch {
	case errors.Is(err, helmexec.ErrNameInUse), fenced(err):
		return err
	case errors.Is(err, confine.ErrOutside), errors.Is(err, confine.ErrUnserved), errors.Is(err, confine.ErrScopeUnknown):
		return r.failed(ctx, t, obs, "confinement", err)
	case err != nil:
		return r.failed(ctx, t, obs, "helm", err)
	}
	r.attempts.forget(t.id)
	// Its objects are looked at once settled, in a reconcile of their own.
	r.markObjectsChanged(t.id)
	r.queue.Add(t.id)
	return r.writeState(ctx, t, plan.ObservedFrom(rel), ObjectsReport{}, ch.Metadata.Version, loaded.Warning)
}

// failed records a failed install or upgrade: it counts the attempt,
// writes the error with what is known of the release, and makes the error
// permanent when retrying cannot help (a manifest outside the namespace)
// or the budget is used up. A failure of a term that is over is none of
// the deployment's: it is neither counted nor written.
func (r *Reconciler) failed(ctx context.Context, t target, obs plan.Observed, reason string, err error) error {
	if fenced(err) {
		return err
	}
	gaveUp := r.attempts.failed(t.id, t.want.Digest, err)
	r.metrics.entryErrors.WithLabelValues(reason).Inc()
	if latest, lerr := r.cfg.Helm.Last(t.name); lerr == nil {
		obs = plan.ObservedFrom(latest)
	}
	if werr := r.writeError(ctx, t, obs, err); werr != nil {
		r.cfg.Log.Warn("state write failed", "deployment", t.id, "error", werr)
	}
	if errors.Is(err, confine.ErrOutside) || errors.Is(err, confine.ErrUnserved) || gaveUp {
		return controller.Permanent(err)
	}
	return err
}
