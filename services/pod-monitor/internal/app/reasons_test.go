package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// Through the API server and the pod cache: a kubelet's container status
// becomes the pod's reason beside its status, and goes when it runs.
func TestReasonsFromTheKubelet(t *testing.T) {
	e := newEnv(t)
	e.deployment("d1")
	e.start()
	e.pod("p", instance("sdp-d1"))
	ctx := context.Background()
	p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{{Name: "fetch",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}}
	if _, err := e.cs.CoreV1().Pods(e.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := configdb.PodReason{Reason: "OOMKilled", Container: "fetch", InitContainer: true, ExitCode: new(int32)}
	*want.ExitCode = 137
	e.waitReason("d1", "p", &want)
	yes := true
	e.setStatus("p", corev1.PodRunning, &yes)
	e.waitReason("d1", "p", nil)
}

// waitReason waits until the pod's reason is want (nil: none, and no
// reasons part at all).
func (e *testEnv) waitReason(id, pod string, want *configdb.PodReason) {
	e.t.Helper()
	eventually.Eventually(e.t, 20*time.Second, func() error {
		st, _, err := e.store.GetState(context.Background(), id)
		got, ok := st.Reasons[pod]
		if err == nil && (want == nil && st.Reasons == nil || want != nil && ok && got.Equal(*want)) {
			return nil
		}
		return fmt.Errorf("%s: the reason of %s is not %+v; last: %+v (error %v)", id, pod, want, st, err)
	})
}
