package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// statusUpdate is one write of the release part of a state entry.
type statusUpdate struct {
	id, name string
	// chart is the entry's chart reference, as the script wrote it.
	chart    string
	status   string
	revision int
	// chartVersion is the version of the chart deployed; empty keeps the
	// recorded one while the revision is the same (the release index does
	// not know versions).
	chartVersion string
	// errText says why the entry is not deployed as asked; empty clears it.
	errText string
	// warning is a note on a chart that did load (charts.Loaded.Warning);
	// empty keeps the recorded one while the revision is the same, since
	// most writes (resyncs, the release index's echo) load no chart.
	warning string
	// objects is what was found of the release's objects; when nothing
	// was looked at, a deployed revision keeps what its part says.
	objects ObjectsReport
}

// writeState records an observed release in the state entry.
func (r *Reconciler) writeState(ctx context.Context, t target, obs plan.Observed, objs ObjectsReport, chartVersion, warning string) error {
	if err := r.writeStatus(ctx, statusUpdate{id: t.id, name: t.name, chart: t.dep.Chart, status: string(obs.Status),
		revision: obs.Revision, chartVersion: chartVersion, warning: warning, objects: objs}); err != nil {
		return err
	}
	r.part.SetWritten(t.id, obs)
	return nil
}

// alreadyWritten reports whether obs is what was last written for id, so
// that the echo of our own action from the release index costs no config
// DB read.
func (r *Reconciler) alreadyWritten(id string, obs plan.Observed) bool {
	last, seen := r.part.Written(id)
	return seen && last == obs
}

// writeError records an error, keeping what is known of the release.
func (r *Reconciler) writeError(ctx context.Context, t target, obs plan.Observed, err error) error {
	// The release's own status stays (a bad edit leaves a deployed release
	// deployed); with no release, the deployment has failed.
	status := configdb.ReleaseFailed
	if obs.Exists {
		status = string(obs.Status)
	}
	werr := r.writeStatus(ctx, statusUpdate{id: t.id, name: t.name, chart: t.dep.Chart, status: status,
		revision: obs.Revision, errText: err.Error()})
	if errors.Is(werr, configdb.ErrNoDeployment) {
		return nil
	}
	return werr
}

// writeStatus sets the release part; nothing is written when only the
// time would change. It returns an error wrapping configdb.ErrNoDeployment
// when the entry is gone.
func (r *Reconciler) writeStatus(ctx context.Context, u statusUpdate) error {
	r.part.Unwrite(u.id)
	start := time.Now()
	defer func() { r.metrics.stateWriteTime.Observe(time.Since(start).Seconds()) }()
	res, err := r.cfg.Store.UpdateRelease(ctx, u.id, r.intend(u.id, func(cur configdb.ReleaseStatus, _ bool) configdb.ReleaseStatus {
		next := configdb.ReleaseStatus{Name: u.name, Status: u.status, Revision: u.revision, Chart: u.chart, Version: u.chartVersion,
			Error: u.errText, Warning: u.warning}
		if next.Version == "" && cur.Revision == u.revision {
			next.Version = cur.Version
		}
		if next.Warning == "" && cur.Revision == u.revision {
			next.Warning = cur.Warning
		}
		if next.Revision == 0 && u.errText != "" {
			next.Revision = cur.Revision
		}
		switch {
		case u.objects.Looked:
			next.Readiness, next.ReadinessReason, next.Drift = u.objects.Readiness, u.objects.ReadinessReason, u.objects.Drift
		case cur.Revision == u.revision && u.status == configdb.ReleaseDeployed:
			next.Readiness, next.ReadinessReason, next.Drift = cur.Readiness, cur.ReadinessReason, cur.Drift
		}
		next.Time = cur.Time
		if next.Equal(cur) {
			return cur
		}
		next.SetTime(r.cfg.Now())
		return next
	}))
	switch {
	case errors.Is(err, configdb.ErrNoDeployment):
		r.metrics.stateWrites.WithLabelValues("no-deployment").Inc()
		return err
	case err != nil:
		r.metrics.stateWrites.WithLabelValues("error").Inc()
		return fmt.Errorf("deployment %s: write state: %w", u.id, err)
	case res.Written:
		r.metrics.stateWrites.WithLabelValues("written").Inc()
	default:
		r.metrics.stateWrites.WithLabelValues("unchanged").Inc()
	}
	return nil
}

// dropOrphanState removes the state entry of a deployment whose entry and
// release are both gone.
func (r *Reconciler) dropOrphanState(ctx context.Context, id string) error {
	r.attempts.forget(id)
	r.part.Forget(id)
	if _, err := r.cfg.Store.DeleteOrphanState(ctx, id); err != nil {
		return fmt.Errorf("deployment %s: %w", id, err)
	}
	return nil
}
