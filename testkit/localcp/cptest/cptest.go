//go:build unix

// Package cptest shares one local control plane (package localcp) among the
// tests of a test binary.
//
//	func TestMain(m *testing.M) {
//		os.Exit(cptest.Main(m, localcp.Options{ControllerManager: true}))
//	}
//
//	func TestSomething(t *testing.T) {
//		cp := cptest.Get(t) // skips, loudly, when the binaries are not built
//		...
//	}
//
// The control plane is started by the first Get, so a run that selects no
// test needing it does not pay for it, and stopped when Main returns.
//
// When the binaries are missing, Get skips the test with a message saying so
// and how to build them — unless SDP_REQUIRE_CONTROLPLANE=1 is set (CI does),
// in which case it fails the test: a skip must never count as a pass there.
// Any other start-up failure always fails the test.
package cptest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
)

// RequireEnv is the environment variable that turns a skip for missing
// binaries into a failure.
const RequireEnv = "SDP_REQUIRE_CONTROLPLANE"

var (
	mu       sync.Mutex
	inMain   bool
	options  localcp.Options
	once     sync.Once
	cp       *localcp.ControlPlane
	startErr error
	skipped  int
)

// Main runs the tests of m with a control plane built from opts available to
// Get, stops it afterwards and returns the exit code for os.Exit.
func Main(m *testing.M, opts localcp.Options) int {
	mu.Lock()
	inMain, options = true, opts
	mu.Unlock()

	code := m.Run()

	mu.Lock()
	c, n := cp, skipped
	mu.Unlock()
	if n > 0 {
		fmt.Fprintf(os.Stderr, "\n!!! cptest: %d test(s) SKIPPED: local control plane binaries not built.\n!!! Run `make controlplane-binaries`; set %s=1 to make this a failure.\n\n",
			n, RequireEnv)
	}
	if c != nil {
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "cptest: stopping the local control plane: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Get returns the shared control plane, starting it on first use. It skips
// the test (or fails it, with SDP_REQUIRE_CONTROLPLANE=1) when the binaries
// are not built, and fails it when the control plane does not start.
func Get(t testing.TB) *localcp.ControlPlane {
	t.Helper()
	mu.Lock()
	ok := inMain
	mu.Unlock()
	if !ok {
		t.Fatal("cptest.Get: call cptest.Main from the package's TestMain first")
	}
	once.Do(func() {
		c, err := localcp.Start(context.Background(), options)
		mu.Lock()
		cp, startErr = c, err
		mu.Unlock()
		if err == nil {
			fmt.Fprintf(os.Stderr, "cptest: local control plane up in %s (%s, etcd %s, work dir %s)\n",
				c.StartupDuration.Round(1e6), c.APIServerURL, c.EtcdEndpoint, c.Dir)
		}
	})
	mu.Lock()
	c, err := cp, startErr
	mu.Unlock()
	if err != nil {
		failOrSkip(t, err)
	}
	if exitErr := c.Exited(); exitErr != nil {
		t.Fatalf("cptest: the local control plane is no longer running: %v", exitErr)
	}
	return c
}

// Start starts a control plane of the test's own (not the shared one), to be
// stopped by t's cleanup, with the same skip/fail rules as Get. Cancelling
// ctx also stops it. It does not need Main.
func Start(t testing.TB, ctx context.Context, opts localcp.Options) *localcp.ControlPlane {
	t.Helper()
	c, err := localcp.Start(ctx, opts)
	if err != nil {
		failOrSkip(t, err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("cptest: stopping the local control plane: %v", err)
		}
	})
	return c
}

func failOrSkip(t testing.TB, err error) {
	t.Helper()
	switch {
	case errors.Is(err, localcp.ErrBinariesMissing) && os.Getenv(RequireEnv) != "1":
		mu.Lock()
		skipped++
		mu.Unlock()
		t.Skipf("SKIP!!! %v; set %s=1 to make this a failure", err, RequireEnv)
	case errors.Is(err, localcp.ErrBinariesMissing):
		t.Fatalf("%s=1 and %v", RequireEnv, err)
	default:
		t.Fatalf("cptest: local control plane did not start: %v", err)
	}
}

// PauseAPIServer stops the control plane's kube-apiserver with SIGSTOP, as
// a hung or partitioned server looks from its clients, and returns the
// function that resumes it (also called at the end of the test).
func PauseAPIServer(t testing.TB, cp *localcp.ControlPlane) (resume func()) {
	t.Helper()
	pid := cp.PIDs()["kube-apiserver"]
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("pause kube-apiserver (pid %d): %v", pid, err)
	}
	var once sync.Once
	resume = func() { once.Do(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) }
	t.Cleanup(resume)
	return resume
}
