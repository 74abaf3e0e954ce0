package reconciler

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
)

// flakyKube is away for its first fails reachability checks.
type flakyKube struct {
	*kubefake.PrintingKubeClient
	mu    sync.Mutex
	fails int
}

func (f *flakyKube) IsReachable() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return fmt.Errorf("%w: dial tcp 127.0.0.1:6443: connect: connection refused", helmexec.ErrUnreachable)
	}
	return nil
}

// TestAPIAwayOutsideBudget: installs that fail because the Kubernetes API
// is away, more times than the attempt budget, do not use it up: the
// deployment is installed once the API is back (found by the e2e chaos
// run, where a 30 s API server stop left deployments given up on).
func TestAPIAwayOutsideBudget(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, srv, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	kube := &flakyKube{PrintingKubeClient: &kubefake.PrintingKubeClient{Out: io.Discard}, fails: h.rec.cfg.Options.MaxAttempts + 1}
	h.rec.cfg.Helm = helmexec.NewWith(ns, kube, h.helm, chartutil.DefaultCapabilities.Copy(), log)
	h.put("away", entryJSON("away", "cm", `{"replicas": 1}`))
	h.start()
	h.waitState("away", deployed(1))
	kube.mu.Lock()
	defer kube.mu.Unlock()
	if kube.fails != 0 {
		t.Errorf("%d failures left unused", kube.fails)
	}
}
