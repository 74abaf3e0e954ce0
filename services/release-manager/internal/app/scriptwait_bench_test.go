// BenchmarkScriptWait: how long a script waits from its entry to its
// pods running, with the pod-monitor beside the release-manager, and the
// figures it reports.

package app

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

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
