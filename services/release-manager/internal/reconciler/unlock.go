package reconciler

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
)

// unlock marks a revision left pending by a process that is gone as
// failed, so that an upgrade may follow (Helm refuses to act on a release
// with a pending revision).
func (r *Reconciler) unlock(ctx context.Context, t target, rel *release.Release) error {
	why := fmt.Sprintf("%s interrupted (release-manager restarted); unlocked", rel.Info.Status)
	return r.act(ctx, plan.Unlock, t.id, t.name, func() error { return r.cfg.Helm.MarkFailed(rel, why) })
}
