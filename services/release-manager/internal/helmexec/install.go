// The install action.

package helmexec

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
)

// Install installs a new release.
func (r *Runner) Install(ctx context.Context, s Spec) (*release.Release, error) {
	cfg, kc := r.configWith(r.releases, s.Name, r.kube)
	in := action.NewInstall(cfg)
	in.ReleaseName = s.Name
	in.Namespace = r.namespace
	in.Timeout = s.Timeout
	in.Labels = s.Labels
	in.PostRenderer = s.PostRenderer
	rel, err := in.RunWithContext(ctx, s.Chart, s.Values)
	if err != nil && nameInUse(err) {
		return rel, fmt.Errorf("helm install %s: %w: %w", s.Name, ErrNameInUse, err)
	}
	if err != nil {
		return rel, fmt.Errorf("helm install %s: %w", s.Name, kc.Explain(err))
	}
	return rel, nil
}
