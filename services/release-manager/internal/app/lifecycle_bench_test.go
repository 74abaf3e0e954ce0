package app

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/reconciler"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// The rest of a deployment's life after its install: its values changed
// (BenchmarkUpgradeN) and its entry deleted (BenchmarkUninstallN), each for
// N entries in one etcd transaction, against the same two bounds as the
// install: the helm CLI one release after another, and the client-go floor
// (the same objects patched or deleted directly). BenchmarkScriptWait is
// what a processing script waits for: from its write to the state entry
// saying deployed, and to every pod RUNNING.
//
//	go test -run '^$' -bench 'UpgradeN|UninstallN' -benchtime 1x ./internal/app

func BenchmarkUpgradeN(b *testing.B) {
	for _, n := range benchSizes(b, "SDP_BENCH_N", "60,500") {
		b.Run(fmt.Sprintf("sdk/N=%d", n), func(b *testing.B) { benchLifecycleSDK(b, n, upgradeStep) })
		b.Run(fmt.Sprintf("client-go-floor/N=%d", n), func(b *testing.B) { benchLifecycleFloor(b, n, upgradeStep) })
	}
	for _, n := range benchSizes(b, "SDP_BENCH_CLI_N", "60") {
		b.Run(fmt.Sprintf("helm-cli-loop/N=%d", n), func(b *testing.B) { benchLifecycleCLI(b, n, upgradeStep) })
	}
}

func BenchmarkUninstallN(b *testing.B) {
	for _, n := range benchSizes(b, "SDP_BENCH_N", "60,500") {
		b.Run(fmt.Sprintf("sdk/N=%d", n), func(b *testing.B) { benchLifecycleSDK(b, n, uninstallStep) })
		b.Run(fmt.Sprintf("client-go-floor/N=%d", n), func(b *testing.B) { benchLifecycleFloor(b, n, uninstallStep) })
	}
	for _, n := range benchSizes(b, "SDP_BENCH_CLI_N", "60") {
		b.Run(fmt.Sprintf("helm-cli-loop/N=%d", n), func(b *testing.B) { benchLifecycleCLI(b, n, uninstallStep) })
	}
}

type lifecycleStep int

const (
	upgradeStep lifecycleStep = iota
	uninstallStep
)

// upgradedImage is the one value the upgrades change: the Pod's image, so
// that Helm patches both objects' owner record and a live Pod.
const upgradedImage = "registry.invalid/x:2"

// benchIDs are the deployment ids of the benchmarks' N entries, as
// servicetest.DeploymentPuts names them; their releases are sdp-<id>.
func benchID(i int) string { return fmt.Sprintf("b%d", i) }

// benchLifecycleSDK installs N releases through the release-manager (not
// timed), then times one transaction changing (or deleting) every entry
// until the state entries say every release is at revision 2 and deployed
// (or every state entry is gone, which the release-manager does once no
// release revision is left).
func benchLifecycleSDK(b *testing.B, n int, step lifecycleStep) {
	var total time.Duration
	var calls apiCounter
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		e.repo.Add(benchChart)
		stop := e.startCounting(&calls)
		e.put("warm", entry("warm", "bench", "{}"))
		e.waitState("warm", "warm-up", deployedAt(1))
		w := watchStates(b, e)
		if _, err := e.store.Client().Txn(context.Background()).Then(etcdtest.DeploymentPuts(b, e.store.Layout(), "b", "bench", n)...).Commit(); err != nil {
			b.Fatal(err)
		}
		keys := make([]string, n)
		for j := range n {
			keys[j] = e.store.Layout().StateKey(benchID(j))
		}
		w.waitFor(b, 10*time.Minute, "every release installed", func() bool { return w.countAt(keys, 1) == n })
		ops := make([]clientv3.Op, n)
		for j := range n {
			key := e.store.Layout().DeploymentKey(benchID(j))
			if step == uninstallStep {
				ops[j] = clientv3.OpDelete(key)
				continue
			}
			v, err := configdb.Deployment{ID: benchID(j), Kind: configdb.KindHelm, Chart: "bench", Values: map[string]any{"image": upgradedImage}}.Encode()
			if err != nil {
				b.Fatal(err)
			}
			ops[j] = clientv3.OpPut(key, string(v))
		}
		calls.resume()
		b.StartTimer()
		start := time.Now()
		if _, err := e.store.Client().Txn(context.Background()).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
		if step == uninstallStep {
			w.waitFor(b, 10*time.Minute, "every state entry removed", func() bool { return w.countPresent(keys) == 0 })
		} else {
			w.waitFor(b, 10*time.Minute, "every release at revision 2", func() bool { return w.countAt(keys, 2) == n })
		}
		total += time.Since(start)
		b.StopTimer()
		calls.pause()
		stop()
		e.checkAfter(step, n)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "releases/s")
	calls.report(b, n*b.N)
	b.ReportMetric(0, "ns/op")
}

// checkAfter confirms, outside the timed part, what the state entries
// said: no release Secret of the N left after an uninstall, revision 2
// deployed in storage after an upgrade.
func (e *testEnv) checkAfter(step lifecycleStep, n int) {
	e.t.Helper()
	list, err := e.cs.CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,status=deployed"})
	if err != nil {
		e.t.Fatal(err)
	}
	deployed := map[string]string{}
	for _, s := range list.Items {
		deployed[s.Labels["name"]] = s.Labels["version"]
	}
	for j := range n {
		v, ok := deployed["sdp-"+benchID(j)]
		switch {
		case step == uninstallStep && ok:
			e.t.Fatalf("release sdp-%s still deployed (revision %s) after its state entry went", benchID(j), v)
		case step == upgradeStep && v != "2":
			e.t.Fatalf("release sdp-%s: deployed revision %q, want 2", benchID(j), v)
		}
	}
}

// benchLifecycleFloor writes, with client-go and 8 at a time as the
// install floor does, what an upgrade or an uninstall of the same release
// needs at the least. Upgrade: the new release record created, the Pod
// patched (the ConfigMap does not change, and Helm leaves it be), the old
// record marked superseded and the new one deployed (4 calls). Uninstall: the record marked uninstalling, both
// objects deleted, the record deleted (4 calls). The objects are created
// first, not timed.
func benchLifecycleFloor(b *testing.B, n int, step lifecycleStep) {
	var total time.Duration
	var calls apiCounter
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		ctx := context.Background()
		cs := floorClient(b, &calls)
		payload := strings.Repeat("x", 2048)
		record := func(name string, rev int, status string) *corev1.Secret {
			return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, rev),
				Labels: map[string]string{"owner": "helm", "name": name, "status": status, "version": strconv.Itoa(rev)}},
				StringData: map[string]string{"release": payload}}
		}
		var setup errgroup.Group
		setup.SetLimit(8)
		for j := range n {
			setup.Go(func() error {
				name := "sdp-" + benchID(j)
				if _, err := cs.CoreV1().Secrets(e.ns).Create(ctx, record(name, 1, "deployed"), metav1.CreateOptions{}); err != nil {
					return err
				}
				if _, err := cs.CoreV1().ConfigMaps(e.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{}); err != nil {
					return err
				}
				_, err := cs.CoreV1().Pods(e.ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/x:1"}}}}, metav1.CreateOptions{})
				return err
			})
		}
		if err := setup.Wait(); err != nil {
			b.Fatal(err)
		}
		podPatch := []byte(`{"spec":{"containers":[{"name":"c","image":"` + upgradedImage + `"}]}}`)
		calls.resume()
		b.StartTimer()
		start := time.Now()
		var g errgroup.Group
		g.SetLimit(8)
		for j := range n {
			g.Go(func() error {
				name := "sdp-" + benchID(j)
				secrets := cs.CoreV1().Secrets(e.ns)
				if step == uninstallStep {
					if _, err := secrets.Update(ctx, record(name, 1, "uninstalling"), metav1.UpdateOptions{}); err != nil {
						return err
					}
					if err := cs.CoreV1().ConfigMaps(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
						return err
					}
					if err := cs.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
						return err
					}
					return secrets.Delete(ctx, record(name, 1, "").Name, metav1.DeleteOptions{})
				}
				next, err := secrets.Create(ctx, record(name, 2, "pending-upgrade"), metav1.CreateOptions{})
				if err != nil {
					return err
				}
				if _, err := cs.CoreV1().Pods(e.ns).Patch(ctx, name, types.StrategicMergePatchType, podPatch, metav1.PatchOptions{}); err != nil {
					return err
				}
				if _, err := secrets.Update(ctx, record(name, 1, "superseded"), metav1.UpdateOptions{}); err != nil {
					return err
				}
				next.Labels["status"] = "deployed"
				_, err = secrets.Update(ctx, next, metav1.UpdateOptions{})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		calls.pause()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "releases/s")
	calls.report(b, n*b.N)
	b.ReportMetric(0, "ns/op")
}

// benchLifecycleCLI has the release-manager install N releases (not
// timed) and stops it, then times `helm upgrade` (or `helm uninstall`) of
// each, one after another, as the Python deployer would.
func benchLifecycleCLI(b *testing.B, n int, step lifecycleStep) {
	helm := filepath.Join(localcp.DefaultBinDir(), "helm")
	if _, err := os.Stat(helm); err != nil {
		b.Fatalf("helm CLI not built (make bench-release-manager builds it): %v", err)
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		e.repo.Add(benchChart)
		stop := e.start()
		w := watchStates(b, e)
		if _, err := e.store.Client().Txn(context.Background()).Then(etcdtest.DeploymentPuts(b, e.store.Layout(), "b", "bench", n)...).Commit(); err != nil {
			b.Fatal(err)
		}
		keys := make([]string, n)
		for j := range n {
			keys[j] = e.store.Layout().StateKey(benchID(j))
		}
		w.waitFor(b, 10*time.Minute, "every release installed", func() bool { return w.countAt(keys, 1) == n })
		stop()
		tgz := filepath.Join(b.TempDir(), "bench-0.1.0.tgz")
		if err := os.WriteFile(tgz, testrepo.Package(b, benchChart), 0o600); err != nil {
			b.Fatal(err)
		}
		kubeconfig := cptest.Get(b).KubeconfigPath
		homes := []string{"HELM_CACHE_HOME=" + b.TempDir(), "HELM_CONFIG_HOME=" + b.TempDir(), "HELM_DATA_HOME=" + b.TempDir()}
		b.StartTimer()
		start := time.Now()
		for j := range n {
			name := "sdp-" + benchID(j)
			args := []string{"uninstall", name}
			if step == upgradeStep {
				args = []string{"upgrade", name, tgz, "--set", "image=" + upgradedImage}
			}
			cmd := exec.Command(helm, append(args, "--namespace", e.ns, "--kubeconfig", kubeconfig)...)
			cmd.Env = append(os.Environ(), homes...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("helm %s: %v\n%s", args[0], err, out)
			}
		}
		total += time.Since(start)
		b.StopTimer()
		e.checkAfter(step, n)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "releases/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkScriptWait times what a processing script waits for, with the
// release-manager (in-process) and the built pod-monitor binary on the
// local control plane, whose kwok moves the pods to Running:
//
//   - one entry written into an idle deployer, SDP_BENCH_WAIT_SINGLES
//     (50) times, one after another: from the write to its state entry
//     saying deployed (deployed-p50-ms, deployed-p99-ms) and to every pod
//     of it RUNNING in the state entry's pods part (running-p50-ms, ...);
//   - a burst of 60 entries in one transaction, SDP_BENCH_WAIT_BURSTS (3)
//     times: from the write to the last of them deployed
//     (burst-last-deployed-ms, its worst as burst-max-deployed-ms) and
//     the last with every pod RUNNING.
//
// The clock starts just before the etcd write and stops at the etcd watch
// event of the state entry: what a script watching the entry sees.
func BenchmarkScriptWait(b *testing.B) {
	singles := servicetest.EnvInt(b, "SDP_BENCH_WAIT_SINGLES", 50)
	bursts := servicetest.EnvInt(b, "SDP_BENCH_WAIT_BURSTS", 3)
	const burst = 60
	for b.Loop() {
		// A control plane of its own, with kwok playing the kubelet so
		// that the pods run.
		ctx, cancel := context.WithCancel(context.Background())
		own := cptest.Start(b, ctx, localcp.Options{Kwok: true})
		e := newEnv(b)
		e.cfg = own.RESTConfig()
		e.cs = kubernetes.NewForConfigOrDie(e.cfg)
		if _, err := e.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		e.repo.Add(waitChart)
		stop := e.start()
		startPodMonitor(b, e, own.KubeconfigPath)
		w := watchStates(b, e)
		layout := e.store.Layout()
		e.put("warm", entry("warm", "wait", "{}"))
		warm := layout.StateKey("warm")
		w.waitFor(b, time.Minute, "warm-up deployed and running", func() bool { return w.running[warm] != (time.Time{}) })

		var deployed, running []float64
		for i := range singles {
			id := fmt.Sprintf("s%d", i)
			key := layout.StateKey(id)
			body := entry(id, "wait", "{}")
			start := time.Now()
			if _, err := e.store.Client().Put(context.Background(), layout.DeploymentKey(id), body); err != nil {
				b.Fatal(err)
			}
			w.waitFor(b, time.Minute, id+" deployed and running", func() bool {
				return w.deployed[key] != (time.Time{}) && w.running[key] != (time.Time{})
			})
			deployed = append(deployed, ms(w.deployedAt(key).Sub(start)))
			running = append(running, ms(w.runningAt(key).Sub(start)))
			// Idle again: the pod-monitor's last write and the release
			// index's events are done before the next entry.
			time.Sleep(100 * time.Millisecond)
		}
		var lastDeployed, lastRunning []float64
		for r := range bursts {
			prefix := fmt.Sprintf("burst%d-", r)
			ops := etcdtest.DeploymentPuts(b, layout, prefix, "wait", burst)
			keys := make([]string, burst)
			for j := range burst {
				keys[j] = layout.StateKey(fmt.Sprintf("%s%d", prefix, j))
			}
			start := time.Now()
			if _, err := e.store.Client().Txn(context.Background()).Then(ops...).Commit(); err != nil {
				b.Fatal(err)
			}
			w.waitFor(b, 5*time.Minute, "burst deployed and running", func() bool {
				for _, k := range keys {
					if w.deployed[k] == (time.Time{}) || w.running[k] == (time.Time{}) {
						return false
					}
				}
				return true
			})
			var ld, lr time.Time
			for _, k := range keys {
				ld, lr = later(ld, w.deployedAt(k)), later(lr, w.runningAt(k))
			}
			lastDeployed = append(lastDeployed, ms(ld.Sub(start)))
			lastRunning = append(lastRunning, ms(lr.Sub(start)))
			time.Sleep(time.Second)
		}
		stop()
		cancel()
		b.ReportMetric(percentile(deployed, 50), "deployed-p50-ms")
		b.ReportMetric(percentile(deployed, 99), "deployed-p99-ms")
		b.ReportMetric(percentile(running, 50), "running-p50-ms")
		b.ReportMetric(percentile(running, 99), "running-p99-ms")
		b.ReportMetric(float64(singles), "singles")
		if bursts > 0 {
			b.ReportMetric(percentile(lastDeployed, 50), "burst-last-deployed-ms")
			b.ReportMetric(slices.Max(lastDeployed), "burst-max-deployed-ms")
			b.ReportMetric(percentile(lastRunning, 50), "burst-last-running-ms")
			b.ReportMetric(slices.Max(lastRunning), "burst-max-running-ms")
			b.ReportMetric(float64(burst), "burst-size")
			b.ReportMetric(float64(bursts), "bursts")
		}
	}
	b.ReportMetric(0, "ns/op")
}

func truncated(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// waitChart is benchChart with its Pod on kwok's node, so that it runs
// without a scheduler.
var waitChart = testrepo.New("wait", "0.1.0", map[string]any{"image": "registry.invalid/x:1"}, map[string]string{
	"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: b\n",
	"pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    app.kubernetes.io/instance: {{ .Release.Name }}\nspec:\n" +
		"  nodeName: " + localcp.KwokNodeName + "\n  containers:\n  - name: c\n    image: {{ .Values.image }}\n",
})

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// percentile is the nearest-rank percentile p of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// startPodMonitor runs the built pod-monitor binary on the environment's
// namespace and config DB.
func startPodMonitor(b *testing.B, e *testEnv, kubeconfig string) *servicetest.Proc {
	bin := servicetest.Build(b, "../../../pod-monitor/cmd/pod-monitor")
	return servicetest.Start(b, bin, []string{"KUBECONFIG=" + kubeconfig, "SDP_HELM_NAMESPACE=" + e.ns,
		"SDP_HELM_PREFIX=" + e.env.HelmPrefix, "SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", e.etcd.Port)}, "--leader-elect=false")
}

// stateWatch follows the state entries through one etcd watch and notes
// when each first said deployed and when each first had every pod RUNNING.
type stateWatch struct {
	mu       sync.Mutex
	states   map[string]configdb.DeploymentState
	deployed map[string]time.Time
	running  map[string]time.Time
	notify   chan struct{}
	err      error
}

func watchStates(b *testing.B, e *testEnv) *stateWatch {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	w := &stateWatch{states: map[string]configdb.DeploymentState{}, deployed: map[string]time.Time{}, running: map[string]time.Time{}, notify: make(chan struct{})}
	prefix := e.store.Layout().StatesPrefix()
	resp, err := e.store.Client().Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		b.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		w.note(string(kv.Key), kv.Value, false, time.Now())
	}
	wc := e.store.Client().Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	go func() {
		for r := range wc {
			at := time.Now()
			for _, ev := range r.Events {
				w.note(string(ev.Kv.Key), ev.Kv.Value, ev.Type == clientv3.EventTypeDelete, at)
			}
			if err := r.Err(); err != nil {
				w.fail(err)
			}
		}
	}()
	return w
}

func (w *stateWatch) note(key string, value []byte, deleted bool, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() { close(w.notify); w.notify = make(chan struct{}) }()
	if deleted {
		delete(w.states, key)
		return
	}
	st, err := configdb.DecodeState(value)
	if err != nil {
		w.err = fmt.Errorf("state entry %s: %w", key, err)
		return
	}
	w.states[key] = st
	if st.Release != nil && st.Release.Status == configdb.ReleaseDeployed && w.deployed[key].IsZero() {
		w.deployed[key] = at
	}
	if len(st.Pods) > 0 && w.running[key].IsZero() {
		for _, p := range st.Pods {
			if p != configdb.PodRunning {
				return
			}
		}
		w.running[key] = at
	}
}

func (w *stateWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
	close(w.notify)
	w.notify = make(chan struct{})
}

// waitFor waits until cond, called with the watch's lock held, holds.
func (w *stateWatch) waitFor(b *testing.B, timeout time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ok, ch, err := cond(), w.notify, w.err
		w.mu.Unlock()
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			w.mu.Lock()
			b.Fatalf("%s: not after %v; %d state entries: %v", what, timeout, len(w.states), truncated(fmt.Sprint(w.states), 2000))
		}
	}
}

// countAt counts the keys whose state says deployed at revision rev
// (called under the lock, from waitFor).
func (w *stateWatch) countAt(keys []string, rev int) int {
	c := 0
	for _, k := range keys {
		if st, ok := w.states[k]; ok && st.Release != nil && st.Release.Status == configdb.ReleaseDeployed && st.Release.Revision == rev && st.Release.Error == "" {
			c++
		}
	}
	return c
}

func (w *stateWatch) countPresent(keys []string) int {
	c := 0
	for _, k := range keys {
		if _, ok := w.states[k]; ok {
			c++
		}
	}
	return c
}

func (w *stateWatch) deployedAt(key string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deployed[key]
}

func (w *stateWatch) runningAt(key string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running[key]
}

// startCounting runs a release-manager as start does, every API call it
// makes counted by calls.
func (e *testEnv) startCounting(calls *apiCounter) (stop func()) {
	e.t.Helper()
	rt := etcdtest.Runtime(e.t, "release-manager", e.env, e.newStore())
	e.rt = rt
	workers, _ := strconv.Atoi(os.Getenv("SDP_BENCH_WORKERS"))
	cfg := rest.CopyConfig(e.cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	calls.wrap(cfg)
	lead, err := New(rt, cfg, Options{PlainHTTPRegistry: true, CacheDir: e.t.TempDir(), Resync: time.Minute,
		Reconciler: reconciler.Options{Workers: workers}})
	if err != nil {
		e.t.Fatal(err)
	}
	return servicetest.RunLead(e.t, rt.Context(), lead)
}

// apiCounter counts Kubernetes API calls by verb while resumed: the
// per-release cost of a method, set beside the floor's.
type apiCounter struct {
	mu     sync.Mutex
	on     bool
	byVerb map[string]int
}

// apiVerbs are the verbs reported, in order; a verb with no call is
// reported as 0, so that every run has the same units.
var apiVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "discovery"}

func (c *apiCounter) wrap(cfg *rest.Config) {
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			c.count(apiVerb(req.Method, req.URL))
			return next.RoundTrip(req)
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func (c *apiCounter) count(verb string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return
	}
	if c.byVerb == nil {
		c.byVerb = map[string]int{}
	}
	c.byVerb[verb]++
}

func (c *apiCounter) resume() { c.mu.Lock(); c.on = true; c.mu.Unlock() }
func (c *apiCounter) pause()  { c.mu.Lock(); c.on = false; c.mu.Unlock() }

// report adds "<verb>-calls/rel" for each verb and "api-calls/rel".
func (c *apiCounter) report(b *testing.B, releases int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, v := range apiVerbs {
		total += c.byVerb[v]
		b.ReportMetric(float64(c.byVerb[v])/float64(releases), v+"-calls/rel")
	}
	b.ReportMetric(float64(total)/float64(releases), "api-calls/rel")
}

// apiVerb names a request as the API server's audit log would: a GET of
// one object is get, of a collection list, with watch=true watch; the
// discovery and OpenAPI documents are discovery.
func apiVerb(method string, u *url.URL) string {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	}
	if len(rest) == 0 {
		return "discovery"
	}
	if rest[0] == "namespaces" && len(rest) >= 3 {
		rest = rest[2:]
	}
	collection := len(rest) == 1
	switch method {
	case http.MethodGet:
		switch {
		case u.Query().Get("watch") == "true" || u.Query().Get("watch") == "1":
			return "watch"
		case collection:
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return strings.ToLower(method)
}

func TestAPIVerb(t *testing.T) {
	for _, c := range []struct{ method, url, want string }{
		{"GET", "/api/v1/namespaces/ns/secrets?labelSelector=owner%3Dhelm", "list"},
		{"GET", "/api/v1/namespaces/ns/secrets?watch=true&resourceVersion=1", "watch"},
		{"GET", "/api/v1/namespaces/ns/pods/p", "get"},
		{"GET", "/api/v1/namespaces/ns/pods/p/status", "get"},
		{"GET", "/api/v1/namespaces/ns", "get"},
		{"GET", "/apis/apps/v1/namespaces/ns/deployments", "list"},
		{"GET", "/api", "discovery"},
		{"GET", "/apis/apps/v1", "discovery"},
		{"GET", "/openapi/v3", "discovery"},
		{"GET", "/version", "discovery"},
		{"POST", "/api/v1/namespaces/ns/secrets", "create"},
		{"PUT", "/api/v1/namespaces/ns/secrets/s", "update"},
		{"PATCH", "/api/v1/namespaces/ns/pods/p", "patch"},
		{"DELETE", "/api/v1/namespaces/ns/pods/p", "delete"},
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := apiVerb(c.method, u); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.method, c.url, got, c.want)
		}
	}
}
