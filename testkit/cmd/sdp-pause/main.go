// Command sdp-pause is the sandbox ("pause") image of the test node's
// containerd, built by tools/images as sdp-helmdeploy/pause: the node has
// no registry to pull registry.k8s.io/pause from. Like that one it holds a
// pod's namespaces open by doing nothing until it is told to stop, and as
// the pod's PID 1 (a shared process namespace) it reaps the zombies that
// other containers' orphans become, which nothing else would.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	// A child that exited before Notify sent no SIGCHLD that we saw.
	reap()
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "sdp-pause: shutting down, got signal: %v\n", s)
		os.Exit(0)
	}
}

// reap collects every child that has exited. Signals coalesce, so one
// SIGCHLD may stand for several children: it waits until none is left.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
	}
}
