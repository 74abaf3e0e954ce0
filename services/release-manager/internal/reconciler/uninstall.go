package reconciler

import (
	"context"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
)

// uninstall removes a release whose entry is gone, or finishes an
// uninstall that was interrupted. Its state entry goes once the loop sees
// no release left.
func (r *Reconciler) uninstall(ctx context.Context, t target) error {
	err := r.act(ctx, plan.Uninstall, t.id, t.name, func() error { return r.cfg.Helm.Uninstall(ctx, t.name, r.cfg.Timeout) })
	if err == nil && r.cfg.Objects != nil {
		r.cfg.Objects.Forget(t.name)
	}
	return err
}
