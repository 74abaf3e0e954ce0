// The upgrade action.

package helmexec

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
)

// Upgrade upgrades a release, from a deployed or a failed revision; values
// are the deployment's, not merged with the previous revision's.
func (r *Runner) Upgrade(ctx context.Context, s Spec) (*release.Release, error) {
	// Only an upgrade's Update reads objects again and again; the other
	// actions share one client.
	base := r.kube
	if r.actionKube != nil {
		base = r.actionKube()
	}
	cfg, kc := r.configWith(r.live, s.Name, base)
	up := action.NewUpgrade(cfg)
	up.Namespace = r.namespace
	up.Timeout = s.Timeout
	up.Labels = s.Labels
	up.PostRenderer = s.PostRenderer
	up.MaxHistory = MaxHistory
	up.ResetValues = true
	rel, err := up.RunWithContext(ctx, s.Name, s.Chart, s.Values)
	if err != nil {
		return rel, fmt.Errorf("helm upgrade %s: %w", s.Name, kc.Explain(err))
	}
	return rel, nil
}
