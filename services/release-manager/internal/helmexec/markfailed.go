// Marking a revision left pending as failed (unlock).

package helmexec

import (
	"fmt"

	"helm.sh/helm/v3/pkg/release"
)

// MarkFailed records a revision left pending by a crash as failed, as
// Flux's helm-controller unlocks one, so that an upgrade may follow.
func (r *Runner) MarkFailed(rel *release.Release, why string) error {
	rel.SetStatus(release.StatusFailed, why)
	r.forgetRead(rel.Name)
	if err := r.live.Update(rel); err != nil {
		return fmt.Errorf("unlock release %s: %w", rel.Name, err)
	}
	return nil
}
