//go:build unix

package localcp

import (
	"context"
	"fmt"
	"time"
)

// StopAPIServer stops the kube-apiserver for real (SIGTERM by its PID, and
// SIGKILL if it has not exited after Options.StopTimeout, as a crashed or
// upgraded server goes away: clients get connection refused, not the
// silence of a hung one) and returns the function that starts it again
// with the same flags and waits until it is ready. Components that run
// beside it (controller manager, scheduler, kwok) are left as they are, to
// reconnect as they would in a cluster. Not for use while other goroutines
// call Exited or PIDs.
func (cp *ControlPlane) StopAPIServer() (start func(ctx context.Context) error, err error) {
	i := -1
	for j, p := range cp.procs {
		if p.Name == "kube-apiserver" {
			i = j
		}
	}
	if i < 0 {
		return nil, fmt.Errorf("no kube-apiserver in this control plane")
	}
	old := cp.procs[i]
	// Under load the server may not finish its graceful shutdown within
	// the stop timeout; killed then, it is stopped all the same.
	if err := old.Stop(cp.opts.StopTimeout); err != nil && !old.Exited() {
		return nil, err
	} else if err != nil {
		cp.log.Debug("kube-apiserver killed", "reason", err)
	}
	cp.log.Debug("kube-apiserver stopped", "pid", old.PID())
	return func(ctx context.Context) error {
		t := time.Now()
		p, err := old.Restart()
		if err != nil {
			return err
		}
		cp.procs[i] = p
		httpc := cp.httpClient()
		if err := p.WaitFor(ctx, "/readyz OK", func(ctx context.Context) error {
			return checkHTTP(ctx, httpc, cp.APIServerURL+"/readyz", cp.AdminToken)
		}); err != nil {
			return err
		}
		cp.log.Debug("kube-apiserver started again", "pid", p.PID(), "took", time.Since(t).Round(time.Millisecond))
		return nil
	}, nil
}
