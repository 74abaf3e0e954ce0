// The uninstall action.

package helmexec

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
)

// Uninstall removes a release and its history.
func (r *Runner) Uninstall(ctx context.Context, name string, timeout time.Duration) error {
	cfg, kc := r.config(name)
	un := action.NewUninstall(cfg)
	un.Timeout = timeout
	un.IgnoreNotFound = true
	done := make(chan error, 1)
	// Uninstall has no context; run it aside so that shutdown is not held
	// up (the next leader sees a release left "uninstalling" and finishes).
	go func() {
		_, err := un.Run(name)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("helm uninstall %s: %w", name, kc.Explain(err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("helm uninstall %s: %w", name, ctx.Err())
	}
}
