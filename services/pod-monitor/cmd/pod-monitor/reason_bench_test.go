package main

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/clustertest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// BenchmarkPodReasonToState runs the built pod-monitor with SDP_BENCH_PODS
// pending pods (default 1000) across SDP_BENCH_DEPLOYMENTS deployments
// (100). Each iteration changes one pod's container from ErrImagePull to
// ImagePullBackOff or back, as a kubelet does while it retries a pull (the
// pods map does not change: PENDING both times), and waits until an etcd
// watch on the state entries shows the new reason; the time is taken from
// just before the status update is sent (p50/p99/max-ms). Then 100 status
// updates that repeat a pod's reason as it is: writes/100-same-reasons
// counts the config DB writes they caused (the target is 0).
//
//	go test -run '^$' -bench PodReasonToState -benchtime 300x ./cmd/pod-monitor
func BenchmarkPodReasonToState(b *testing.B) {
	nPods, nDeps := servicetest.EnvInt(b, "SDP_BENCH_PODS", 1000), servicetest.EnvInt(b, "SDP_BENCH_DEPLOYMENTS", 100)
	cp, _, cs := clustertest.BenchCluster(b, 2000, 4000)
	pulling := func(reason string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "receiver", Image: "registry.invalid/x:1",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason,
					Message: `Back-off pulling image "registry.invalid/x:1"`}}}}
		}
	}
	pb := newPodBench(b, cp, cs, "pm-reasons", nPods, nDeps, 16, pulling("ErrImagePull"), 5*time.Minute)
	ns, states, dep, podName := pb.ns, pb.states, pb.dep, pb.pod

	var lat []time.Duration
	reasons := map[int]string{}
	changes := 0
	for b.Loop() {
		i := (changes * 7919) % nPods
		changes++
		want := "ImagePullBackOff"
		if reasons[i] == want {
			want = "ErrImagePull"
		}
		reasons[i] = want
		seen := states.expect(dep(i), podName(i))
		var start time.Time
		setStatus(b, cs, ns, podName(i), func(p *corev1.Pod) {
			pulling(want)(p)
			start = time.Now()
		})
		if err := seen.waitReason(want, 10*time.Second); err != nil {
			b.Fatalf("change %d: %v", changes, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()

	// The same reason again in a status that changed elsewhere (a
	// condition the pods map and the reasons do not read): pod events,
	// but no write.
	time.Sleep(time.Second)
	w0 := states.writes.Load()
	for j := range 100 {
		i := j * nPods / 100
		reason := reasons[i]
		if reason == "" {
			reason = "ErrImagePull"
		}
		setStatus(b, cs, ns, podName(i), func(p *corev1.Pod) {
			pulling(reason)(p)
			p.Status.Conditions = setCondition(p.Status.Conditions, corev1.ContainersReady, corev1.ConditionStatus([]string{"False", "Unknown"}[j%2]))
		})
	}
	time.Sleep(2 * time.Second)
	b.ReportMetric(quantile(lat, 0.5), "p50-ms")
	b.ReportMetric(quantile(lat, 0.99), "p99-ms")
	b.ReportMetric(quantile(lat, 1), "max-ms")
	b.ReportMetric(float64(states.writes.Load()-w0), "writes/100-same-reasons")
	b.ReportMetric(0, "ns/op")
}
