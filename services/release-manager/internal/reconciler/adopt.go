package reconciler

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
)

// adopt makes ours a release without our label that holds the entry's
// release name: one the Python deployer installed (it put no labels on
// releases), so that switching deployers disturbs nothing that runs. The
// stored latest revision is relabelled in place, which makes no revision
// and restarts no pod. When the release already holds the entry's chart,
// version and values it gets the entry's digest and nothing follows;
// otherwise it gets none, and the loop's next decision is the one upgrade
// that brings it to the entry.
func (r *Reconciler) adopt(ctx context.Context, t target, rel *release.Release) error {
	obs := plan.ObservedFrom(rel)
	// The chart's name is only known from the chart itself: the entry's
	// reference may name a repository, a path or an OCI artifact.
	loaded, err := r.cfg.Charts.Fetch(ctx, t.dep.Chart, t.dep.Version)
	if err != nil {
		return r.failed(ctx, t, obs, "chart", fmt.Errorf("chart %q: %w", t.dep.Chart, err))
	}
	same := plan.SameContent(rel, loaded.Chart.Metadata.Name, t.dep.Version, helmValues(t.dep.Values))
	labels := plan.AdoptLabels(t.want.Digest, same)
	r.cfg.Log.Info("adopting release installed without this deployer's label",
		"deployment", t.id, "release", t.name, "revision", rel.Version, "status", string(obs.Status), "upgrade_follows", !same)
	return r.act(ctx, plan.Adopt, t.id, t.name, func() error { return r.cfg.Helm.Relabel(rel, labels) })
}
