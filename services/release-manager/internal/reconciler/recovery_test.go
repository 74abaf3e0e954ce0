package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/charts"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

func TestWaitsOn(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		dep  controller.Dependency
	}{
		{"chart repository away", fmt.Errorf("chart %q: %w: refused", "x", charts.ErrUnreachable), controller.ChartRepo},
		{"API refused", fmt.Errorf("install: %w", helmexec.ErrUnreachable), controller.KubeAPI},
		{"config DB away", fmt.Errorf("deployment x: write state: %w", rpctypes.ErrNoLeader), controller.ConfigDB},
		{"config DB conflicts", fmt.Errorf("deployment x: write state: %w", configdb.ErrTooManyConflicts), ""},
		{"chart not found", fmt.Errorf("chart: %w", charts.ErrNotFound), ""},
		{"Helm's deadline", fmt.Errorf("hook: %w", context.DeadlineExceeded), ""},
		{"values refused", errors.New("values don't meet the specifications of the schema"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dep, away := waitsOn(tc.err)
			if dep != tc.dep || away != (tc.dep != "") {
				t.Errorf("waitsOn(%v) = %q, %v; want %q", tc.err, dep, away, tc.dep)
			}
		})
	}
}

// switchKube is a kube client that is away while down is set, as is the
// probe of the API it goes with.
type switchKube struct {
	*kubefake.PrintingKubeClient
	down   atomic.Bool
	probed atomic.Bool // the probe has seen the API away
}

func (k *switchKube) IsReachable() error {
	if k.down.Load() {
		return fmt.Errorf("%w: dial tcp 127.0.0.1:6443: connect: connection refused", helmexec.ErrUnreachable)
	}
	return nil
}

func (k *switchKube) ready(context.Context) error {
	if k.down.Load() {
		k.probed.Store(true)
		return errors.New("connection refused")
	}
	return nil
}

// A deployment whose install failed while the API was away is installed as
// soon as the API is back, not when its backoff (a minute here) ends.
func TestAPIBackRetriesAtOnce(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, srv, nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	kube := &switchKube{PrintingKubeClient: &kubefake.PrintingKubeClient{Out: io.Discard}}
	kube.down.Store(true)
	h.rec.cfg.Helm = helmexec.NewWith(ns, kube, h.helm, chartutil.DefaultCapabilities.Copy(), log)
	h.rec.cfg.KubeReady = kube.ready
	h.rec.queue = controller.NewQueue("slow", prometheus.NewRegistry(), controller.QueueOptions{BaseDelay: time.Minute, MaxDelay: time.Minute})
	h.rec.recovery = h.rec.newRecovery()
	h.rec.recovery.Every = 20 * time.Millisecond
	h.put("away", entryJSON("away", "cm", `{"replicas": 1}`))
	h.start()
	eventually.Eventually(t, 10*time.Second, func() error {
		if h.rec.recovery.Waiting(controller.KubeAPI) != 1 || !kube.probed.Load() {
			return errors.New("the install has not failed on the API, or the probe not seen it away, yet")
		}
		return nil
	})
	kube.down.Store(false)
	// waitState gives up after 15 s, well inside the minute of backoff.
	h.waitState("away", deployed(1))
}
