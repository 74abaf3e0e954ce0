package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// The release-manager's throughput on the local control plane, against
// the two bounds that matter: the Python deployer's method (the helm CLI,
// one release after another) and the floor (the same objects written with
// client-go directly). Run with `make bench-release-manager`; sizes with
// SDP_BENCH_N (default "60,500") and SDP_BENCH_CLI_N (default 60).

// benchChart is the smallest release that still makes Helm create, wait
// on and record objects of two kinds.
var benchChart = testrepo.SmallChart("bench", "0.1.0")

func benchSizes(b *testing.B, name, def string) []int {
	spec := os.Getenv(name)
	if spec == "" {
		spec = def
	}
	var ns []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a list of positive numbers", name, spec)
		}
		ns = append(ns, n)
	}
	return ns
}

func BenchmarkInstallN(b *testing.B) {
	for _, n := range benchSizes(b, "SDP_BENCH_N", "60,500") {
		b.Run(fmt.Sprintf("sdk/N=%d", n), func(b *testing.B) { benchSDK(b, n) })
		b.Run(fmt.Sprintf("client-go-floor/N=%d", n), func(b *testing.B) { benchFloor(b, n) })
	}
	for _, n := range benchSizes(b, "SDP_BENCH_CLI_N", "60") {
		b.Run(fmt.Sprintf("helm-cli-loop/N=%d", n), func(b *testing.B) { benchCLI(b, n) })
	}
}

// benchSDK: N entries written in one etcd transaction → all N deployed,
// as seen in their state entries.
func benchSDK(b *testing.B, n int) {
	var total time.Duration
	var calls apiCounter
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e, stop := warmEnv(b, &calls)
		ops := etcdtest.DeploymentPuts(b, e.store.Layout(), "b", "bench", n)
		calls.resume()
		b.StartTimer()
		start := time.Now()
		if _, err := e.store.Client().Txn(context.Background()).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
		waitAllDeployed(b, e, n)
		elapsed := time.Since(start)
		total += elapsed
		b.StopTimer()
		calls.pause()
		stop()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "releases/s")
	calls.report(b, n*b.N)
	b.ReportMetric(0, "ns/op")
}

func waitAllDeployed(b *testing.B, e *testEnv, n int) {
	// Watch the state entries rather than poll them: the end is seen the
	// moment the last release is reported, and watching costs the machine
	// nothing while the release-manager works.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	prefix := e.store.Layout().StatesPrefix()
	resp, err := e.store.Client().Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		b.Fatal(err)
	}
	deployed := map[string]bool{}
	note := func(key, value []byte) {
		st, err := configdb.DecodeState(value)
		deployed[string(key)] = err == nil && st.Release != nil && st.Release.Status == "deployed"
	}
	count := func() int {
		c := 0
		for _, d := range deployed {
			if d {
				c++
			}
		}
		return c
	}
	for _, kv := range resp.Kvs {
		note(kv.Key, kv.Value)
	}
	if count() == n+1 {
		return
	}
	for w := range e.store.Client().Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		for _, ev := range w.Events {
			note(ev.Kv.Key, ev.Kv.Value)
		}
		if count() == n+1 {
			return
		}
	}
	b.Fatal("timed out waiting for all releases")
}

// benchFloor writes what a release needs with client-go, 8 at a time: the
// release record Secret (created pending, then updated), the ConfigMap and
// the Pod.
func benchFloor(b *testing.B, n int) {
	var total time.Duration
	var calls apiCounter
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		ctx := context.Background()
		cs := floorClient(b, &calls)
		payload := strings.Repeat("x", 2048) // about a small release record
		calls.resume()
		b.StartTimer()
		start := time.Now()
		var g errgroup.Group
		g.SetLimit(8)
		for j := range n {
			g.Go(func() error {
				name := fmt.Sprintf("sdp-b%d", j)
				s, err := cs.CoreV1().Secrets(e.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1." + name + ".v1",
					Labels: map[string]string{"owner": "helm", "name": name, "status": "pending-install"}}, StringData: map[string]string{"release": payload}}, metav1.CreateOptions{})
				if err != nil {
					return err
				}
				if _, err := cs.CoreV1().ConfigMaps(e.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{}); err != nil {
					return err
				}
				if _, err := cs.CoreV1().Pods(e.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/x:1"}}}}, metav1.CreateOptions{}); err != nil {
					return err
				}
				s.Labels["status"] = "deployed"
				_, err = cs.CoreV1().Secrets(e.ns).Update(ctx, s, metav1.UpdateOptions{})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		calls.pause()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "releases/s")
	calls.report(b, n*b.N)
	b.ReportMetric(0, "ns/op")
}

// floorClient is a client with the release-manager's limits, its calls
// counted.
func floorClient(b *testing.B, calls *apiCounter) kubernetes.Interface {
	cfg := cptest.Get(b).RESTConfig()
	cfg.QPS, cfg.Burst = 1000, 2000
	calls.wrap(cfg)
	return kubernetes.NewForConfigOrDie(cfg)
}

// helmCLI is the helm binary the benchmarks compare with.
func helmCLI(b *testing.B) string {
	helm := filepath.Join(localcp.DefaultBinDir(), "helm")
	if _, err := os.Stat(helm); err != nil {
		b.Fatalf("helm CLI not built (make bench-release-manager builds it): %v", err)
	}
	return helm
}

// benchCLI installs the same chart with the helm CLI, one after another.
func benchCLI(b *testing.B, n int) {
	helm := helmCLI(b)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		tgz := filepath.Join(b.TempDir(), "bench-0.1.0.tgz")
		if err := os.WriteFile(tgz, testrepo.Package(b, benchChart), 0o600); err != nil {
			b.Fatal(err)
		}
		kubeconfig := cptest.Get(b).KubeconfigPath
		var mu sync.Mutex
		b.StartTimer()
		start := time.Now()
		for j := range n {
			cmd := exec.Command(helm, "install", fmt.Sprintf("sdp-b%d", j), tgz, "--namespace", e.ns, "--kubeconfig", kubeconfig)
			cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+b.TempDir(), "HELM_CONFIG_HOME="+b.TempDir(), "HELM_DATA_HOME="+b.TempDir())
			if out, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				b.Fatalf("helm install: %v\n%s", err, out)
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "releases/s")
	b.ReportMetric(0, "ns/op")
}

var _ = localcp.Options{}
