package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podstatus"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/clustertest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// BenchmarkPodStatusToState runs the built pod-monitor binary against the
// local control plane with SDP_BENCH_PODS pods (default 5000) across
// SDP_BENCH_DEPLOYMENTS deployments (500), none on a node: like a kubelet,
// the benchmark writes pod status through the status subresource.
//
// Each iteration changes one pod's reported status (Running with Ready
// flipped: RUNNING ↔ PENDING) and waits until an etcd watch on the state
// entries shows it; the time is taken from just before the status update
// is sent, so it includes the API server's own write (api-p50-ms). Reported besides:
// etcd writes per change (one at a time, and in bursts of every pod of a
// deployment), writes while idle and after status updates that change
// nothing the map shows, and the monitor process's VmRSS / VmHWM.
//
//	go test -run '^$' -bench PodStatusToState -benchtime 500x ./cmd/pod-monitor
func BenchmarkPodStatusToState(b *testing.B) {
	nPods, nDeps := servicetest.EnvInt(b, "SDP_BENCH_PODS", 5000), servicetest.EnvInt(b, "SDP_BENCH_DEPLOYMENTS", 500)
	cp, _, cs := clustertest.BenchCluster(b, 2000, 4000)
	pb := newPodBench(b, cp, cs, "pm-bench", nPods, nDeps, 16, nil, 5*time.Minute)
	ns, mon, states, dep, podName := pb.ns, pb.mon, pb.states, pb.dep, pb.pod

	// Nothing changes: nothing is written.
	time.Sleep(time.Second)
	w0 := states.writes.Load()
	time.Sleep(5 * time.Second)
	idleWrites := states.writes.Load() - w0

	// Status updates a kubelet makes that change no reported status (a
	// condition other than Ready): pod events, but no writes.
	const noops = 100
	w0 = states.writes.Load()
	for i := range noops {
		setStatus(b, cs, ns, podName(i*nPods/noops), func(p *corev1.Pod) {
			p.Status.Conditions = setCondition(p.Status.Conditions, corev1.PodScheduled, corev1.ConditionStatus([]string{"True", "False"}[i%2]))
		})
	}
	time.Sleep(2 * time.Second)
	noopWrites := states.writes.Load() - w0

	// One real change at a time.
	var lat, apiWrite []time.Duration
	w0 = states.writes.Load()
	histBefore := latencies(b, mon)
	changes := 0
	for b.Loop() {
		i := (changes * 7919) % nPods
		changes++
		name := podName(i)
		var want configdb.PodStatus
		seen := states.expect(dep(i), name)
		var start time.Time
		setStatus(b, cs, ns, name, func(p *corev1.Pod) {
			ready := corev1.ConditionTrue
			if podstatus.Of(p) == configdb.PodRunning {
				ready = corev1.ConditionFalse
			}
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = setCondition(p.Status.Conditions, corev1.PodReady, ready)
			want = podstatus.Of(p)
			start = time.Now() // the status update is sent next
		})
		apiWrite = append(apiWrite, time.Since(start))
		if err := seen.wait(want, 10*time.Second); err != nil {
			b.Fatalf("change %d: %v", changes, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	time.Sleep(time.Second)
	perChange := float64(states.writes.Load()-w0) / float64(changes)
	histAfter := latencies(b, mon)

	// Bursts: every pod of a deployment changed at once, as when a
	// deployment's workers all start; the monitor may coalesce them.
	burstDeps := min(20, nDeps)
	burstChanges := 0
	w0 = states.writes.Load()
	for d := range burstDeps {
		var waits []*expectation
		var g errgroup.Group
		for i := d; i < nPods; i += nDeps {
			burstChanges++
			waits = append(waits, states.expect(dep(i), podName(i)))
			g.Go(func() error {
				return updateStatus(cs, ns, podName(i), func(p *corev1.Pod) {
					p.Status.Phase = corev1.PodSucceeded
					p.Status.Conditions = setCondition(p.Status.Conditions, corev1.PodReady, corev1.ConditionFalse)
				})
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		for _, e := range waits {
			if err := e.wait(configdb.PodFinished, 10*time.Second); err != nil {
				b.Fatalf("burst %d: %v", d, err)
			}
		}
	}
	time.Sleep(time.Second)
	burstPerChange := float64(states.writes.Load()-w0) / float64(burstChanges)

	mem := proc.MemoryOf(b, mon.PID())
	rss, hwm, anon := mem.RSS, mem.HWM, mem.RSSAnon
	b.ReportMetric(quantile(lat, 0.5), "p50-ms")
	b.ReportMetric(quantile(lat, 0.99), "p99-ms")
	b.ReportMetric(quantile(lat, 1), "max-ms")
	// The part of it that is the API server's own write, and the part
	// from the monitor's informer event to its write, as the monitor's
	// histogram has it (bucket upper bounds).
	b.ReportMetric(quantile(apiWrite, 0.5), "api-p50-ms")
	b.ReportMetric(quantile(apiWrite, 0.99), "api-p99-ms")
	b.ReportMetric(bucketQuantile(histBefore, histAfter, 0.5), "monitor-p50-ms-le")
	b.ReportMetric(bucketQuantile(histBefore, histAfter, 0.99), "monitor-p99-ms-le")
	b.ReportMetric(perChange, "writes/change")
	b.ReportMetric(burstPerChange, "writes/burst-change")
	b.ReportMetric(float64(idleWrites), "idle-writes/5s")
	b.ReportMetric(float64(noopWrites), "writes/100-noop-updates")
	b.ReportMetric(float64(rss)/(1<<20), "RSS-MiB")
	b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(anon)/(1<<20), "anon-RSS-MiB")
}

// quantile returns the q-quantile of ds in milliseconds (ds is sorted).
func quantile(ds []time.Duration, q float64) float64 {
	slices.Sort(ds)
	return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
}

// createPods puts nDeps deployment entries d<j> and creates nPods pods
// p<i> of deployment d<i mod nDeps>, limit at a time, each then given
// status by setStatus unless it is nil.
func createPods(ctx context.Context, b *testing.B, cs kubernetes.Interface, ns string, store *configdb.Store, nPods, nDeps, limit int, setStatus func(*corev1.Pod)) {
	for d := range nDeps {
		if err := store.PutDeployment(ctx, configdb.Deployment{ID: fmt.Sprintf("d%d", d), Kind: "helm", Chart: "c"}); err != nil {
			b.Fatal(err)
		}
	}
	created := time.Now()
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range nPods {
		g.Go(func() error {
			name := fmt.Sprintf("p%d", i)
			if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{podstatus.LabelInstance: fmt.Sprintf("d%d", i%nDeps), "app": "bench"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/x"}}},
			}, metav1.CreateOptions{}); err != nil || setStatus == nil {
				return err
			}
			return updateStatus(cs, ns, name, setStatus)
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d pods created in %v", nPods, time.Since(created).Round(time.Millisecond))
}

// podBench is a benchmark's namespace of pods across deployments, with
// the built monitor running over them and an etcd watch of its writes.
type podBench struct {
	ns           string
	nPods, nDeps int
	mon          *servicetest.Proc
	states       *stateWatch
}

// newPodBench creates nPods pods p<i> of deployments d<i mod nDeps> in a
// new namespace (limit at a time, each given status by status unless it is
// nil) and a config DB of their entries, starts the monitor and waits, up
// to timeout, until every pod is reported.
func newPodBench(b *testing.B, cp *localcp.ControlPlane, cs kubernetes.Interface, prefix string, nPods, nDeps, limit int,
	status func(*corev1.Pod), timeout time.Duration) *podBench {
	ctx := context.Background()
	ns := clustertest.BenchNamespace(b, cs, prefix)
	srv := etcdtest.Start(b)
	client, store := srv.Store(b)
	createPods(ctx, b, cs, ns, store, nPods, nDeps, limit, status)
	mon, states := startWatched(ctx, b, cp, ns, srv, client, store, nPods, timeout)
	return &podBench{ns: ns, nPods: nPods, nDeps: nDeps, mon: mon, states: states}
}

func (p *podBench) dep(pod int) string { return fmt.Sprintf("d%d", pod%p.nDeps) }
func (p *podBench) pod(pod int) string { return fmt.Sprintf("p%d", pod) }

// startWatched starts the built monitor over ns and srv and waits, up to
// timeout, until the state entries hold every pod.
func startWatched(ctx context.Context, b *testing.B, cp *localcp.ControlPlane, ns string, srv *etcdtest.Server,
	client *clientv3.Client, store *configdb.Store, nPods int, timeout time.Duration) (*servicetest.Proc, *stateWatch) {
	mon := startMonitor(b, servicetest.Build(b, "."), "KUBECONFIG="+cp.KubeconfigPath, "SDP_HELM_NAMESPACE="+ns,
		"SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port))
	started := time.Now()
	states := newStateWatch(ctx, b, client, store.Layout())
	states.waitTotal(b, nPods, timeout)
	b.Logf("every pod reported %v after the monitor started", time.Since(started).Round(time.Millisecond))
	return mon, states
}

// startMonitor runs the binary as its own process, so that its memory is
// measured alone, without leader election (one replica).
func startMonitor(b *testing.B, bin string, env ...string) *servicetest.Proc {
	// GOGC / GOMEMLIMIT from the benchmark's environment reach the monitor,
	// for trying other settings.
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		if v, ok := os.LookupEnv("BENCH_" + k); ok {
			env = append(env, k+"="+v)
		}
	}
	return servicetest.Start(b, bin, env, "--leader-elect=false")
}

// latencies reads the monitor's own event → write histogram from its
// /metrics: cumulative counts by upper bound (seconds).
func latencies(b *testing.B, p *servicetest.Proc) map[float64]float64 {
	m, err := p.Metrics()
	if err != nil {
		b.Fatal(err)
	}
	h, ok := m.Histogram("sdp_helmdeploy_pod_monitor_event_to_write_seconds")
	if !ok {
		b.Fatal("no event_to_write_seconds histogram in /metrics")
	}
	counts := map[float64]float64{}
	bounds, cum := metrics.Buckets(h)
	for i, le := range bounds {
		counts[le] = float64(cum[i])
	}
	// The text format's +Inf bucket is the count.
	counts[math.Inf(1)] = float64(h.GetSampleCount())
	return counts
}

// bucketQuantile is the upper bound, in milliseconds, of the bucket that
// holds the q-quantile of the observations made between two scrapes.
func bucketQuantile(before, after map[float64]float64, q float64) float64 {
	bounds := slices.Sorted(maps.Keys(after))
	total := after[math.Inf(1)] - before[math.Inf(1)]
	for _, le := range bounds {
		if after[le]-before[le] >= q*total {
			return le * 1000
		}
	}
	return math.Inf(1)
}

func setStatus(b *testing.B, cs kubernetes.Interface, ns, name string, change func(*corev1.Pod)) {
	if err := updateStatus(cs, ns, name, change); err != nil {
		b.Fatal(err)
	}
}

// updateStatus writes a pod's status as a kubelet does.
func updateStatus(cs kubernetes.Interface, ns, name string, change func(*corev1.Pod)) error {
	ctx := context.Background()
	p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	change(p)
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

func setCondition(conds []corev1.PodCondition, typ corev1.PodConditionType, status corev1.ConditionStatus) []corev1.PodCondition {
	for i := range conds {
		if conds[i].Type == typ {
			conds[i].Status = status
			return conds
		}
	}
	return append(conds, corev1.PodCondition{Type: typ, Status: status})
}

// stateWatch follows every write to the state entries through an etcd
// watch: it counts them and keeps the pods map each one wrote.
type stateWatch struct {
	writes atomic.Int64
	mu     sync.Mutex
	pods   map[string]map[string]configdb.PodStatus
	waits  []*expectation
}

type expectation struct {
	id, pod string
	ch      chan seenPod
	done    atomic.Bool
}

// seenPod is what one write said of a pod: its status and its reason.
type seenPod struct {
	status configdb.PodStatus
	reason string
}

func newStateWatch(ctx context.Context, b *testing.B, client *clientv3.Client, layout configdb.Layout) *stateWatch {
	w := &stateWatch{pods: map[string]map[string]configdb.PodStatus{}}
	wctx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel)
	resp, err := client.Get(wctx, layout.StatesPrefix(), clientv3.WithPrefix())
	if err != nil {
		b.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		w.apply(layout, kv.Key, kv.Value, false)
	}
	watch := client.Watch(wctx, layout.StatesPrefix(), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	go func() {
		for r := range watch {
			for _, ev := range r.Events {
				w.apply(layout, ev.Kv.Key, ev.Kv.Value, true)
			}
		}
	}()
	return w
}

func (w *stateWatch) apply(layout configdb.Layout, key, value []byte, count bool) {
	id, ok := layout.StateID(string(key))
	if !ok {
		return
	}
	if count {
		w.writes.Add(1)
	}
	st, err := configdb.DecodeState(value)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || len(value) == 0 {
		delete(w.pods, id)
		return
	}
	w.pods[id] = st.Pods
	kept := w.waits[:0]
	for _, e := range w.waits {
		if e.done.Load() {
			continue
		}
		if e.id == id {
			select {
			case e.ch <- seenPod{st.Pods[e.pod], st.Reasons[e.pod].Reason}:
			default:
			}
		}
		kept = append(kept, e)
	}
	w.waits = kept
}

// expect registers interest in a pod's reported status before the change
// is made, so that no write is missed.
func (w *stateWatch) expect(id, pod string) *expectation {
	e := &expectation{id: id, pod: pod, ch: make(chan seenPod, 64)}
	w.mu.Lock()
	w.waits = append(w.waits, e)
	w.mu.Unlock()
	return e
}

func (e *expectation) wait(want configdb.PodStatus, timeout time.Duration) error {
	return e.waitFor(func(s seenPod) bool { return s.status == want }, string(want), timeout)
}

// waitReason waits for the pod's reason to be want.
func (e *expectation) waitReason(want string, timeout time.Duration) error {
	return e.waitFor(func(s seenPod) bool { return s.reason == want }, "reason "+want, timeout)
}

func (e *expectation) waitFor(ok func(seenPod) bool, what string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case got := <-e.ch:
			if ok(got) {
				e.done.Store(true)
				return nil
			}
		case <-deadline:
			e.done.Store(true)
			return fmt.Errorf("%s of %s not %s after %v", e.pod, e.id, what, timeout)
		}
	}
}

func (w *stateWatch) waitTotal(b *testing.B, n int, timeout time.Duration) {
	err := eventually.Poll(context.Background(), timeout, 100*time.Millisecond, func(context.Context) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		total := 0
		for _, p := range w.pods {
			total += len(p)
		}
		if total != n {
			return fmt.Errorf("%d of %d pods reported", total, n)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
