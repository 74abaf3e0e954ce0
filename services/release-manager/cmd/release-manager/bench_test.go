package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/clustertest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// benchService is what the release-manager's benchmarks run the built
// binary over: a namespace of their own, a chart repository serving one
// small chart (a ConfigMap and a Pod, as in the install benchmark), a
// config DB, and the service's environment for them.
type benchService struct {
	cs     kubernetes.Interface
	ns     string
	srv    *etcdtest.Server
	client *clientv3.Client
	store  *configdb.Store
	bin    string
	env    []string
}

func newBenchService(b *testing.B, prefix string, extraEnv ...string) (s benchService) {
	cp, _, cs := clustertest.BenchCluster(b, 1000, 2000)
	s.cs = cs
	s.ns = clustertest.BenchNamespace(b, cs, prefix)
	repo := testrepo.NewRepo(b)
	repo.Add(testrepo.SmallChart("bench", "0.1.0"))
	s.srv = etcdtest.Start(b)
	s.client, s.store = s.srv.Store(b)
	s.bin = servicetest.Build(b, ".")
	s.env = append([]string{"KUBECONFIG=" + cp.KubeconfigPath, "SDP_HELM_NAMESPACE=" + s.ns, "SDP_HELM_PREFIX=sdp",
		"SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", s.srv.Port), "SDP_CHART_REPO_URL=" + repo.URL}, extraEnv...)
	return s
}

// BenchmarkRestartInSync restarts the release-manager binary with
// SDP_BENCH_RESTART_DEPLOYMENTS (default 5,000) deployments whose
// releases are all deployed and in sync, as a rollout of a new version
// would. The releases are installed once, by the service itself; each
// iteration then stops the running process with SIGTERM and starts a new
// one, and measures from the new process's start:
//
//   - ready-s: /readyz answers 200 after the process, as leader, has listed
//     the deployment entries (the "deployments listed" log line);
//   - all-seen-s: every entry has been looked at (the release part of each
//     state entry compared once: state_writes_total counts one per
//     deployment after a resync) and the work queue is empty;
//   - helm-actions/restart: helm_actions_total of the new process by then,
//     which must be 0, since nothing is out of sync;
//   - state-writes/restart: state entries actually rewritten (0 expected);
//   - reconciles/entry: reconciles by then per deployment;
//   - configdb-writes/restart: etcd revisions the restart cost (leader
//     election keys included).
//
// The target (issues 8 and 14) is ready ≤ 5 s with 0 Helm actions and 0
// state rewrites, at 5,000 deployments.
//
//	go test -run '^$' -bench RestartInSync -benchtime 3x ./cmd/release-manager
func BenchmarkRestartInSync(b *testing.B) {
	n := servicetest.EnvInt(b, "SDP_BENCH_RESTART_DEPLOYMENTS", 5000)
	ctx := context.Background()
	s := newBenchService(b, "rm-restart")
	client, store, bin, env := s.client, s.store, s.bin, s.env
	args := []string{"--cache-dir=" + b.TempDir()}

	// Install: every entry in one transaction, deployed by the service.
	p := servicetest.Start(b, bin, env, args...)
	ops := etcdtest.DeploymentPuts(b, store.Layout(), "r", "bench", n)
	installStart := time.Now()
	if _, err := client.Txn(ctx).Then(ops...).Commit(); err != nil {
		b.Fatal(err)
	}
	waitDeployed(b, client, store.Layout(), n, 10*time.Minute)
	b.Logf("%d releases installed by the service in %v", n, time.Since(installStart).Round(time.Millisecond))
	waitMetrics(b, p, "installs done and queue empty", 2*time.Minute, func(m metrics.Families) bool {
		return m.Sum("sdp_helmdeploy_release_manager_helm_actions_total") >= float64(n) && m.Sum("sdp_helmdeploy_workqueue_depth") == 0
	})

	var ready, seen, stopped []float64
	var actions, reconciles, stateWrites, dbWrites float64
	restarts := 0
	for b.Loop() {
		stopStart := time.Now()
		if code := p.Stop(b, time.Minute); code != 0 {
			b.Fatalf("release-manager exited %d on SIGTERM", code)
		}
		stopped = append(stopped, time.Since(stopStart).Seconds())
		rev0 := revision(b, client)
		start := time.Now()
		p = servicetest.Start(b, bin, env, args...)
		readyAt := waitReady(b, p, start, time.Minute)
		m := waitMetrics(b, p, "every entry looked at", 5*time.Minute, func(m metrics.Families) bool {
			return m.Sum("sdp_helmdeploy_release_manager_state_writes_total") >= float64(n) && m.Sum("sdp_helmdeploy_workqueue_depth") == 0
		})
		seenAt := time.Since(start)
		rev1 := revision(b, client)
		restarts++
		ready = append(ready, readyAt.Seconds())
		seen = append(seen, seenAt.Seconds())
		actions += m.Sum("sdp_helmdeploy_release_manager_helm_actions_total")
		reconciles += m.Sum("sdp_helmdeploy_release_manager_reconciles_total")
		stateWrites += value(m, "sdp_helmdeploy_release_manager_state_writes_total", "result", "written")
		dbWrites += float64(rev1 - rev0)
	}
	b.ReportMetric(mean(ready), "ready-s")
	b.ReportMetric(slices.Max(ready), "max-ready-s")
	b.ReportMetric(mean(seen), "all-seen-s")
	b.ReportMetric(slices.Max(seen), "max-all-seen-s")
	b.ReportMetric(mean(stopped), "stop-s")
	b.ReportMetric(actions/float64(restarts), "helm-actions/restart")
	b.ReportMetric(stateWrites/float64(restarts), "state-writes/restart")
	// Reconciles per entry: 1 means each was looked at once (an entry and
	// its release both queue it; the queue merges them).
	b.ReportMetric(reconciles/float64(restarts*n), "reconciles/entry")
	b.ReportMetric(dbWrites/float64(restarts), "configdb-writes/restart")
	b.ReportMetric(float64(n), "deployments")
	b.ReportMetric(float64(restarts), "restarts")
	b.ReportMetric(0, "ns/op")
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// waitDeployed follows the state entries through an etcd watch until n of
// them say deployed, with their objects looked at (readiness said).
func waitDeployed(b *testing.B, client *clientv3.Client, layout configdb.Layout, n int, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := client.Get(ctx, layout.StatesPrefix(), clientv3.WithPrefix())
	if err != nil {
		b.Fatal(err)
	}
	deployed := map[string]bool{}
	note := func(key, value []byte) {
		st, err := configdb.DecodeState(value)
		// Deployed and its objects looked at (readiness said): the
		// release part is whole, and a restart has nothing to add.
		if err == nil && st.Release != nil && st.Release.Status == "deployed" && st.Release.Readiness != "" {
			deployed[string(key)] = true
		} else {
			delete(deployed, string(key))
		}
	}
	for _, kv := range resp.Kvs {
		note(kv.Key, kv.Value)
	}
	if len(deployed) >= n {
		return
	}
	for w := range client.Watch(ctx, layout.StatesPrefix(), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		for _, ev := range w.Events {
			note(ev.Kv.Key, ev.Kv.Value)
		}
		if len(deployed) >= n {
			return
		}
	}
	b.Fatalf("%d of %d releases deployed after %v", len(deployed), n, timeout)
}

// revision is the config DB's current revision: the count of its writes.
func revision(b *testing.B, client *clientv3.Client) int64 {
	resp, err := client.Get(context.Background(), "revision-probe")
	if err != nil {
		b.Fatal(err)
	}
	return resp.Header.Revision
}

// waitReady polls /readyz until it answers 200 once the process has
// listed the entries as leader (before it leads, a replica says ready so
// as to be a standby), and returns the time since start.
func waitReady(b *testing.B, p *servicetest.Proc, start time.Time, timeout time.Duration) time.Duration {
	err := eventually.Poll(context.Background(), timeout, 10*time.Millisecond, func(context.Context) error {
		if !strings.Contains(p.Logs(), `"msg":"deployments listed"`) {
			return errors.New("deployments not listed yet")
		}
		if code, _, err := p.Get("/readyz"); err != nil || code != 200 {
			return fmt.Errorf("/readyz: %d %v", code, err)
		}
		return nil
	})
	if err != nil {
		b.Fatalf("not ready: %v", err)
	}
	return time.Since(start)
}

// waitMetrics scrapes /metrics until cond holds and returns that scrape.
func waitMetrics(b *testing.B, p *servicetest.Proc, what string, timeout time.Duration, cond func(metrics.Families) bool) metrics.Families {
	var last metrics.Families
	err := eventually.Poll(context.Background(), timeout, 25*time.Millisecond, func(context.Context) error {
		m, err := p.Metrics()
		if err != nil {
			return err
		}
		last = m
		if !cond(m) {
			return errors.New("condition not met")
		}
		return nil
	})
	if err != nil {
		b.Fatalf("%s: %v; last scrape:\n%s", what, err, last.Text("sdp_helmdeploy_"))
	}
	return last
}

// value is one series' value, 0 if absent.
func value(m metrics.Families, name string, labels ...string) float64 {
	v, _ := m.Value(name, labels...)
	return v
}
