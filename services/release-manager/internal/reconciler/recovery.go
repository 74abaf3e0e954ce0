package reconciler

import (
	"context"
	"errors"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/charts"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
)

// waitsOn names the dependency whose absence made a reconcile fail, so
// that the deployment is worked again as soon as that dependency is back.
func waitsOn(err error) (controller.Dependency, bool) {
	switch {
	case errors.Is(err, charts.ErrUnreachable):
		return controller.ChartRepo, true
	case helmexec.IsUnreachable(err), kube.IsTimeout(err):
		return controller.KubeAPI, true
	// The release-manager's config DB calls have no deadline of their own
	// (they wait for etcd); a deadline that ran out belongs to Helm.
	case configdb.IsUnavailable(err) && !errors.Is(err, context.DeadlineExceeded):
		return controller.ConfigDB, true
	}
	return "", false
}

// indexRefresher is a chart source whose repository indexes can be read
// again on demand (charts.Source).
type indexRefresher interface {
	Refresh(ctx context.Context) (changed bool, err error)
}

// newRecovery sets up how the term's deployments that wait on a dependency
// are released: the config DB and the Kubernetes API are probed, and the
// chart repositories' indexes read again, while deployments wait on them.
func (r *Reconciler) newRecovery() *controller.Recovery {
	rec := controller.NewRecovery(r.queue, r.cfg.Log, waitsOn)
	if r.cfg.Store != nil {
		rec.Probe(controller.ConfigDB, r.cfg.Store.Ping)
	}
	if r.cfg.KubeReady != nil {
		rec.Probe(controller.KubeAPI, r.cfg.KubeReady)
	}
	if src, ok := r.cfg.Charts.(indexRefresher); ok {
		rec.Probe(controller.ChartRepo, func(ctx context.Context) error {
			changed, err := src.Refresh(ctx)
			if changed {
				// The periodic refresh would not see this change any more.
				r.Resync()
			}
			return err
		})
	}
	return rec
}
