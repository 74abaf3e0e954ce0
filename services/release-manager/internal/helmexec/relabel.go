// Relabelling the latest revision in place (adopt).

package helmexec

import (
	"fmt"
	"maps"

	"helm.sh/helm/v3/pkg/release"
)

// Relabel sets labels on the stored latest revision of a release, in
// place: no new revision, nothing applied to the cluster, so its pods do
// not restart. It is how a release installed without our labels (by the
// Python deployer) is adopted when it already holds what its entry asks.
func (r *Runner) Relabel(rel *release.Release, labels map[string]string) error {
	if rel.Labels == nil {
		rel.Labels = map[string]string{}
	}
	maps.Copy(rel.Labels, labels)
	r.forgetRead(rel.Name)
	if err := r.live.Update(rel); err != nil {
		return fmt.Errorf("relabel release %s: %w", rel.Name, err)
	}
	return nil
}
