package localcp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

// TestFailureStages: the kwok stages chosen by the pod annotation
// sdp.test/stage play a Job's pod that fails (exit 3, and the Job
// controller fails the Job) and a pod whose init container never ends.
func TestFailureStages(t *testing.T) {
	cp := cptest.Get(t)
	cs := clientset(t, cp)
	ns := "stages-test"
	createNamespace(t, cs, ns)
	ctx := context.Background()
	zero := int32(0)
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "fails"},
		Spec: batchv1.JobSpec{BackoffLimit: &zero, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"sdp.test/stage": "fail"}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "step", Image: "busybox:1.37"}}},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stuck", Annotations: map[string]string{"sdp.test/stage": "init-stuck"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "wait", Image: "busybox:1.37"}},
			Containers:     []corev1.Container{{Name: "main", Image: "busybox:1.37"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually.Eventually(t, 60*time.Second, func() error {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "fails", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("job not failed: %+v", j.Status)
	})
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=fails"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods of the job: %v %v", pods, err)
	}
	if p := pods.Items[0]; p.Status.Phase != corev1.PodFailed || len(p.Status.ContainerStatuses) != 1 ||
		p.Status.ContainerStatuses[0].State.Terminated == nil || p.Status.ContainerStatuses[0].State.Terminated.ExitCode != 3 {
		t.Errorf("job's pod: %+v", p.Status)
	}
	var last corev1.PodStatus
	eventually.Eventually(t, 30*time.Second, func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "stuck", metav1.GetOptions{})
		if err != nil {
			return err
		}
		last = p.Status
		if p.Status.Phase == corev1.PodPending && len(p.Status.InitContainerStatuses) == 1 && p.Status.InitContainerStatuses[0].State.Running != nil {
			return nil
		}
		return fmt.Errorf("pod not initialising: %+v", p.Status)
	})
	time.Sleep(2 * time.Second)
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "stuck", metav1.GetOptions{})
	if err != nil || p.Status.Phase != corev1.PodPending {
		t.Errorf("the initialising pod moved on: %+v %v (was %+v)", p.Status, err, last)
	}
}
