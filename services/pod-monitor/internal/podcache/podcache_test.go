package podcache

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podstatus"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func TestTrimKeepsWhatTheStatusNeeds(t *testing.T) {
	now := metav1.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "sdp", ResourceVersion: "7", DeletionTimestamp: &now,
			Labels:        map[string]string{podstatus.LabelInstance: "sdp-d", "app": "x", podstatus.LabelRelease: "r"},
			Annotations:   map[string]string{"big": "annotation"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue, Message: "m"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "c"}}},
	}
	out, err := Trim(pod)
	if err != nil {
		t.Fatal(err)
	}
	tp := out.(*Pod)
	if tp.Status != podstatus.Of(pod) {
		t.Errorf("status changed by trimming: %s vs %s", tp.Status, podstatus.Of(pod))
	}
	if tp.Name != "p" || tp.Namespace != "sdp" || tp.ResourceVersion != "7" || tp.DeletionTimestamp == nil || len(tp.Labels) != 2 ||
		tp.Annotations != nil || tp.ManagedFields != nil {
		t.Errorf("trimmed pod keeps too much or too little: %+v", tp)
	}
	if again, _ := Trim(tp); again != tp {
		t.Errorf("a trimmed pod trimmed again: %+v, want it unchanged", again)
	}
	// Every row of the mapping survives trimming.
	for _, phase := range []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown, ""} {
		for _, ready := range []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse} {
			for _, deleting := range []bool{false, true} {
				p := pod.DeepCopy()
				p.Status.Phase = phase
				p.Status.Conditions[1].Status = ready
				if !deleting {
					p.DeletionTimestamp = nil
				}
				tr, _ := Trim(p)
				if got, want := tr.(*Pod).Status, podstatus.Of(p); got != want {
					t.Errorf("phase %q ready %s deleting %v: %s after trim, %s before", phase, ready, deleting, got, want)
				}
				checkReason(t, p, tr.(*Pod))
			}
		}
	}
}

// The reason survives trimming; a pod without one costs no allocation.
func TestTrimKeepsTheReason(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodPending,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: strings.Repeat("m", 1000)}}}}}}
	tr, _ := Trim(pod)
	tp := tr.(*Pod)
	if tp.Reason == nil || tp.Reason.Reason != "ErrImagePull" || tp.Reason.Container != "c" || len(tp.Reason.Message) > configdb.MaxReasonMessage {
		t.Errorf("trimmed reason %+v", tp.Reason)
	}
	checkReason(t, pod, tp)
	pod.Status = corev1.PodStatus{Phase: corev1.PodSucceeded}
	if tr, _ := Trim(pod); tr.(*Pod).Reason != nil {
		t.Errorf("finished pod has reason %+v", tr.(*Pod).Reason)
	}
}

func checkReason(t *testing.T, pod *corev1.Pod, tp *Pod) {
	t.Helper()
	want, ok := podstatus.Reason(pod)
	if (tp.Reason != nil) != ok || (ok && !tp.Reason.Equal(want)) {
		t.Errorf("reason %+v after trim, %+v (%v) before", tp.Reason, want, ok)
	}
}

// FuzzTrimAndClassify: whatever a pod's labels and status hold, trimming
// changes neither its reported status nor its deployment, and a pod either
// names a deployment or gets a reason why not.
func FuzzTrimAndClassify(f *testing.F) {
	f.Add("sdp", "sdp-d1", "", "Running", "True", false)
	f.Add("sdp", "", "sdp-bad_id", "Pending", "False", true)
	f.Add("", "x", "y", "Unknown", "", false)
	f.Add("p", "p-", "p-p-", "", "True", true)
	f.Fuzz(func(t *testing.T, prefix, instance, release, phase, ready string, deleting bool) {
		labels := map[string]string{}
		if instance != "" {
			labels[podstatus.LabelInstance] = instance
		}
		if release != "" {
			labels[podstatus.LabelRelease] = release
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: labels},
			Status: corev1.PodStatus{Phase: corev1.PodPhase(phase), Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionStatus(ready)}}}}
		if deleting {
			now := metav1.Now()
			pod.DeletionTimestamp = &now
		}
		out, err := Trim(pod)
		if err != nil {
			t.Fatal(err)
		}
		tp := out.(*Pod)
		if got, want := tp.Status, podstatus.Of(pod); got != want {
			t.Errorf("status %s after trim, %s before", got, want)
		}
		checkReason(t, pod, tp)
		c := &Cache{prefix: prefix}
		wantID, ok := podstatus.DeploymentID(labels, prefix)
		for _, obj := range []any{pod, tp, cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: tp}} {
			id, ignored := c.Classify(obj)
			if id != wantID || (ignored == "") != ok {
				t.Errorf("Classify(%T) = %q, %q; want id %q (ok %v)", obj, id, ignored, wantID, ok)
			}
			switch ignored {
			case "", NoReleaseLabel, OtherPrefix, InvalidID:
			default:
				t.Errorf("unknown reason %q", ignored)
			}
		}
	})
}
