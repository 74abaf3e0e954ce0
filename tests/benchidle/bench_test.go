package benchidle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

var nadGVR = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}

// services are the three binaries, by their cmd directories from here.
var services = []string{"release-manager", "pod-monitor", "resource-monitor"}

// idleChart is one ConfigMap and one Pod per release, so that every
// deployment has a pod for the pod-monitor to report.
var idleChart = map[string]string{
	"Chart.yaml":         "apiVersion: v2\nname: idle\nversion: 0.1.0\n",
	"values.yaml":        "image: registry.invalid/x:1\n",
	"templates/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: b\n",
	"templates/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    app.kubernetes.io/instance: {{ .Release.Name }}\nspec:\n  containers:\n  - name: c\n    image: {{ .Values.image }}\n",
}

// BenchmarkIdle runs the three service binaries (default flags: leader
// election on, one replica each) against the local control plane and an
// embedded config DB holding SDP_BENCH_IDLE_DEPLOYMENTS deployments
// (default 1,000: a release of one ConfigMap and one Pod each, installed
// by the release-manager, their pods reported by the pod-monitor) and
// SDP_BENCH_IDLE_NADS labelled NADs (default 200, in supernets of 10,
// mirrored by the resource-monitor). Once everything is reported and a few
// seconds have passed, nothing is changed for SDP_BENCH_IDLE (default
// 60s), and it reports per minute of that:
//
//   - <service>-cpu-s/min: CPU seconds (user + system, /proc/<pid>/stat);
//   - kube-apiserver-cpu-s/min: the API server's, for scale;
//   - configdb-writes/min: the config DB's revision count, every write;
//   - state-, resource-, other-writes/min: the same by key (an etcd watch);
//   - <service>-RSS-MiB at the end.
//
// The pods have no node (no kubelet or kwok here), so they stay PENDING:
// nothing changes, which is the point.
//
//	go test -run '^$' -bench Idle -benchtime 1x ./benchidle
func BenchmarkIdle(b *testing.B) {
	nDeps := servicetest.EnvInt(b, "SDP_BENCH_IDLE_DEPLOYMENTS", 1000)
	nNADs := servicetest.EnvInt(b, "SDP_BENCH_IDLE_NADS", 200)
	idle := 60 * time.Second
	if v := os.Getenv("SDP_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("SDP_BENCH_IDLE=%q: want a duration", v)
		}
		idle = d
	}
	cp := cptest.Get(b)
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = 1000, 2000
	cs := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	ctx := context.Background()
	// -count runs share the control plane: a namespace each.
	ns := fmt.Sprintf("sdp-idle-%d", idleRuns.Add(1))
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := manifests.Apply(ctx, cfg, filepath.Join(repoRoot(b), "deploy", "crds"), quiet); err != nil {
		b.Fatalf("NAD CRD: %v", err)
	}
	nads := dyn.Resource(nadGVR).Namespace(ns)
	// The resource-monitor watches NADs in every namespace: a later run
	// must not see these.
	b.Cleanup(func() {
		if err := nads.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			b.Errorf("delete the benchmark's NADs: %v", err)
		}
	})
	createNADs(b, nads, ns, nNADs)

	charts := b.TempDir()
	testrepo.WriteFiles(b, filepath.Join(charts, "idle"), idleChart)
	repoURL, stopRepo, err := testrepo.ServeCharts(charts, b.TempDir())
	if err != nil {
		b.Fatalf("chart repository: %v", err)
	}
	b.Cleanup(stopRepo)

	srv := etcdtest.Start(b)
	client := srv.Client(b)
	store, err := configdb.NewStore(client, "")
	if err != nil {
		b.Fatal(err)
	}
	env := []string{"KUBECONFIG=" + cp.KubeconfigPath, "SDP_HELM_NAMESPACE=" + ns, "SDP_HELM_PREFIX=sdp",
		"SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port), "SDP_CHART_REPO_URL=" + repoURL}
	procs := map[string]*servicetest.Proc{}
	for _, name := range services {
		bin := servicetest.Build(b, filepath.Join(repoRoot(b), "services", name, "cmd", name))
		args := []string{}
		if name == "release-manager" {
			args = append(args, "--cache-dir="+b.TempDir())
		}
		procs[name] = servicetest.Start(b, bin, env, args...)
	}
	// Stopped by SIGTERM before the control plane goes, so that they end
	// cleanly rather than retry against a server that is gone.
	b.Cleanup(func() {
		for _, name := range services {
			if code := procs[name].Stop(b, 30*time.Second); code != 0 {
				b.Errorf("%s exited %d on SIGTERM", name, code)
			}
		}
	})

	ops := etcdtest.DeploymentPuts(b, store.Layout(), "d", "idle", nDeps)
	start := time.Now()
	if _, err := client.Txn(ctx).Then(ops...).Commit(); err != nil {
		b.Fatal(err)
	}
	waitSettled(b, store, nDeps, nNADs+(nNADs+9)/10, 10*time.Minute)
	b.Logf("%d deployments deployed and their pods reported, %d NADs mirrored, %v after the entries were written",
		nDeps, nNADs, time.Since(start).Round(time.Millisecond))
	// Work still in flight (the last writes' echoes, informer deliveries)
	// is not idle.
	time.Sleep(5 * time.Second)

	pids := map[string]int{}
	for name, p := range procs {
		pids[name] = p.PID()
	}
	pids["kube-apiserver"] = cp.PIDs()["kube-apiserver"]

	for b.Loop() {
		rev0 := revision(b, client)
		cpu0 := cpuOf(b, pids)
		t0 := time.Now()
		time.Sleep(idle)
		cpu1 := cpuOf(b, pids)
		elapsed := time.Since(t0)
		rev1 := revision(b, client)
		byKind := writesBetween(b, client, store.Layout(), rev0, rev1)
		perMin := func(x float64) float64 { return x / elapsed.Minutes() }
		for name, c := range cpu1 {
			b.ReportMetric(perMin(c-cpu0[name]), name+"-cpu-s/min")
		}
		b.ReportMetric(perMin(float64(rev1-rev0)), "configdb-writes/min")
		for _, kind := range []string{"state", "resource", "deploy", "other"} {
			b.ReportMetric(perMin(float64(byKind[kind])), kind+"-writes/min")
		}
	}
	for _, name := range services {
		rss, err := procs[name].RSS()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rss)/(1<<20), name+"-RSS-MiB")
	}
	b.ReportMetric(float64(nDeps), "deployments")
	b.ReportMetric(float64(nNADs), "nads")
	b.ReportMetric(0, "ns/op")
}

var idleRuns atomic.Int32

// repoRoot is the repository's top directory, from this package's.
func repoRoot(b *testing.B) string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	return root
}

// createNADs writes n labelled whereabouts NADs, ten to a supernet, each
// its own /24.
func createNADs(b *testing.B, nads dynamic.ResourceInterface, ns string, n int) {
	ctx := context.Background()
	for i := range n {
		config := fmt.Sprintf(`{"cniVersion":"0.3.1","name":"idle-%d","type":"macvlan","master":"eth1","ipam":{"type":"whereabouts","range":"10.%d.%d.0/24","range_start":"10.%d.%d.10","range_end":"10.%d.%d.200","gateway":"10.%d.%d.1"}}`,
			i, 100+i/250, i%250, 100+i/250, i%250, 100+i/250, i%250, 100+i/250, i%250)
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "k8s.cni.cncf.io/v1",
			"kind":       "NetworkAttachmentDefinition",
			"metadata": map[string]any{"name": fmt.Sprintf("idle-%d", i), "namespace": ns, "labels": map[string]any{
				"sdp.skao.int/available-for-allocation": "true",
				"sdp.skao.int/supernet":                 fmt.Sprintf("idle-sn-%d", i/10),
			}},
			"spec": map[string]any{"config": config},
		}}
		if _, err := nads.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			b.Fatalf("create NAD %d: %v", i, err)
		}
	}
}

// waitSettled polls the config DB until every deployment's state entry
// says deployed and lists its pod, and the resource entries are all there.
func waitSettled(b *testing.B, store *configdb.Store, nDeps, nResources int, timeout time.Duration) {
	err := eventually.Poll(context.Background(), timeout, 500*time.Millisecond, func(ctx context.Context) error {
		deployed, reported := 0, 0
		resp, err := store.Client().Get(ctx, store.Layout().StatesPrefix(), clientv3.WithPrefix())
		if err != nil {
			return eventually.Stop(err)
		}
		for _, kv := range resp.Kvs {
			st, err := configdb.DecodeState(kv.Value)
			if err != nil {
				continue
			}
			if st.Release != nil && st.Release.Status == "deployed" {
				deployed++
			}
			if len(st.Pods) == 1 {
				reported++
			}
		}
		list, err := store.ListResources(ctx)
		if err != nil {
			return eventually.Stop(err)
		}
		if resources := len(list.Resources); deployed != nDeps || reported != nDeps || resources != nResources {
			return fmt.Errorf("%d of %d deployed, %d with their pod reported, %d of %d resource entries",
				deployed, nDeps, reported, resources, nResources)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func revision(b testing.TB, client *clientv3.Client) int64 {
	resp, err := client.Get(context.Background(), "revision-probe")
	if err != nil {
		b.Fatal(err)
	}
	return resp.Header.Revision
}

func cpuOf(b *testing.B, pids map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range pids {
		s, err := CPUSeconds(pid)
		if err != nil {
			b.Fatal(err)
		}
		out[name] = s
	}
	return out
}

// writesBetween replays the config DB's history from rev0 (exclusive) to
// rev1 (inclusive) and counts the writes by WriteKind. Counting after the
// fact, rather than live, needs no guess of when the last event has come.
func writesBetween(b testing.TB, client *clientv3.Client, layout configdb.Layout, rev0, rev1 int64) map[string]int {
	counts := map[string]int{}
	if rev1 <= rev0 {
		return counts
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for resp := range client.Watch(ctx, "", clientv3.WithPrefix(), clientv3.WithRev(rev0+1)) {
		if err := resp.Err(); err != nil {
			b.Fatalf("replay writes %d..%d: %v", rev0+1, rev1, err)
		}
		// The writes of one transaction share a revision and come in one
		// response.
		reached := false
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision <= rev1 {
				counts[WriteKind(layout, string(ev.Kv.Key))]++
			}
			reached = reached || ev.Kv.ModRevision >= rev1
		}
		if reached {
			return counts
		}
	}
	b.Fatalf("replay writes %d..%d: watch ended early", rev0+1, rev1)
	return nil
}
