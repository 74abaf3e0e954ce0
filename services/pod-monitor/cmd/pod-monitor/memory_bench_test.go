package main

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/clustertest"
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
	cp, _, cs := clustertest.BenchCluster(b, 2000, 4000)
	for b.Loop() {
		mon := newPodBench(b, cp, cs, "pm-memory", nPods, nDeps, 32, func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = setCondition(p.Status.Conditions, corev1.PodReady, corev1.ConditionTrue)
		}, 10*time.Minute).mon
		servicetest.SettledMemory(b, mon.PID())
		b.ReportMetric(float64(nPods), "pods")
		b.ReportMetric(float64(nDeps), "deployments")
		if code := mon.Stop(b, time.Minute); code != 0 {
			b.Fatalf("pod-monitor exited %d on SIGTERM", code)
		}
	}
	b.ReportMetric(0, "ns/op")
}
