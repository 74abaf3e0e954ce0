package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podstatus"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// BenchmarkPodMemory measures the built pod-monitor's memory at scale:
// SDP_BENCH_MEMORY_PODS pods (default 20,000) across
// SDP_BENCH_MEMORY_POD_DEPLOYMENTS deployments (2,000), each pod with a
// running status as a kubelet writes it. Once every pod is in its state
// entry and SDP_BENCH_MEMORY_SETTLE (10 s) has passed, VmRSS is the steady
// figure (RSS-MiB) and VmHWM the peak (peak-RSS-MiB). The target
// is ≤ 96 MiB at 20,000 pods.
//
//	go test -run '^$' -bench PodMemory -benchtime 1x ./cmd/pod-monitor
func BenchmarkPodMemory(b *testing.B) {
	nPods, nDeps := servicetest.EnvInt(b, "SDP_BENCH_MEMORY_PODS", 20000), servicetest.EnvInt(b, "SDP_BENCH_MEMORY_POD_DEPLOYMENTS", 2000)
	settle := time.Duration(servicetest.EnvInt(b, "SDP_BENCH_MEMORY_SETTLE", 10)) * time.Second
	cp, _, cs := servicetest.BenchCluster(b, 2000, 4000)
	ctx := context.Background()
	for b.Loop() {
		ns := servicetest.BenchNamespace(b, cs, "pm-memory")
		srv := etcdtest.Start(b)
		client, store := srv.Store(b)
		dep := func(pod int) string { return fmt.Sprintf("d%d", pod%nDeps) }
		for d := range nDeps {
			if err := store.PutDeployment(ctx, configdb.Deployment{ID: dep(d), Kind: "helm", Chart: "c"}); err != nil {
				b.Fatal(err)
			}
		}
		created := time.Now()
		var g errgroup.Group
		g.SetLimit(32)
		for i := range nPods {
			g.Go(func() error {
				name := fmt.Sprintf("p%d", i)
				if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{podstatus.LabelInstance: dep(i), "app": "bench"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/x"}}},
				}, metav1.CreateOptions{}); err != nil {
					return err
				}
				return updateStatus(cs, ns, name, func(p *corev1.Pod) {
					p.Status.Phase = corev1.PodRunning
					p.Status.Conditions = setCondition(p.Status.Conditions, corev1.PodReady, corev1.ConditionTrue)
				})
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		b.Logf("%d running pods created in %v", nPods, time.Since(created).Round(time.Millisecond))
		mon := startMonitor(b, servicetest.Build(b, "."), "KUBECONFIG="+cp.KubeconfigPath, "SDP_HELM_NAMESPACE="+ns,
			"SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port))
		started := time.Now()
		states := newStateWatch(ctx, b, client, store.Layout())
		states.waitTotal(b, nPods, 10*time.Minute)
		b.Logf("every pod reported %v after the monitor started", time.Since(started).Round(time.Millisecond))
		time.Sleep(settle)
		mem := proc.MemoryOf(b, mon.PID())
		rss, hwm, anon := mem.RSS, mem.HWM, mem.RSSAnon
		b.ReportMetric(float64(rss)/(1<<20), "RSS-MiB")
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(anon)/(1<<20), "anon-RSS-MiB")
		b.ReportMetric(float64(nPods), "pods")
		b.ReportMetric(float64(nDeps), "deployments")
		if code := mon.Stop(b, time.Minute); code != 0 {
			b.Fatalf("pod-monitor exited %d on SIGTERM", code)
		}
	}
	b.ReportMetric(0, "ns/op")
}
