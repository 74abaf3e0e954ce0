package podstatus

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func exitCode(c int32) *int32 { return &c }

func waiting(name, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func terminated(name, reason string, code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code}}}
}

func crashLoop(name, lastReason string, code int32) corev1.ContainerStatus {
	cs := waiting(name, "CrashLoopBackOff", "back-off 40s restarting failed container="+name)
	cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: lastReason, ExitCode: code}
	return cs
}

func running(name string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func TestReason(t *testing.T) {
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	unschedulable := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/3 nodes are available: 3 Insufficient memory."}
	pull := waiting("receiver", "ErrImagePull", `rpc error: code = NotFound desc = failed to pull and unpack image "x:1"`)
	tests := []struct {
		name  string
		phase corev1.PodPhase
		st    corev1.PodStatus
		want  *configdb.PodReason
	}{
		{"running and ready", corev1.PodRunning, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled, ready},
			ContainerStatuses: []corev1.ContainerStatus{running("a")}}, nil},
		// A running, ready pod that restarted after a crash has no reason:
		// it is RUNNING.
		{"running after a crash", corev1.PodRunning, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled, ready},
			ContainerStatuses: []corev1.ContainerStatus{func() corev1.ContainerStatus {
				cs := running("a")
				cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
				return cs
			}()}}, nil},
		{"finished", corev1.PodSucceeded, corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Completed", 0)}}, nil},
		{"pending, nothing wrong yet", corev1.PodPending, corev1.PodStatus{}, nil},
		{"creating its containers", corev1.PodPending, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled},
			InitContainerStatuses: []corev1.ContainerStatus{running("init")},
			ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing", ""), waiting("b", "ContainerCreating", "")}},
			&configdb.PodReason{Reason: "ContainersNotInitialized", Container: "init", InitContainer: true, Message: "init container init has not finished"}},
		{"an init container that has not finished, as the kubelet says it", corev1.PodPending, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled,
			{Type: corev1.PodInitialized, Status: corev1.ConditionFalse, Reason: "ContainersNotInitialized", Message: "containers with incomplete status: [wait]"}},
			InitContainerStatuses: []corev1.ContainerStatus{terminated("fetch", "Completed", 0), running("wait")},
			ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing", "")}},
			&configdb.PodReason{Reason: "ContainersNotInitialized", Container: "wait", InitContainer: true, Message: "containers with incomplete status: [wait]"}},
		{"unschedulable", corev1.PodPending, corev1.PodStatus{Conditions: []corev1.PodCondition{unschedulable}},
			&configdb.PodReason{Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient memory."}},
		{"scheduling gated", corev1.PodPending, corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated", Message: "Scheduling is blocked due to non-empty scheduling gates"}}},
			&configdb.PodReason{Reason: "SchedulingGated", Message: "Scheduling is blocked due to non-empty scheduling gates"}},
		{"image pull error", corev1.PodPending, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled},
			ContainerStatuses: []corev1.ContainerStatus{pull}},
			&configdb.PodReason{Reason: "ErrImagePull", Container: "receiver", Message: pull.State.Waiting.Message}},
		{"image pull back-off", corev1.PodPending, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled},
			ContainerStatuses: []corev1.ContainerStatus{waiting("a", "ImagePullBackOff", `Back-off pulling image "x:1"`)}},
			&configdb.PodReason{Reason: "ImagePullBackOff", Container: "a", Message: `Back-off pulling image "x:1"`}},
		{"image never pulled", corev1.PodPending, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled},
			ContainerStatuses: []corev1.ContainerStatus{waiting("a", "ErrImageNeverPull", `Container image "sdp-receiver:dev" is not present with pull policy of Never`)}},
			&configdb.PodReason{Reason: "ErrImageNeverPull", Container: "a", Message: `Container image "sdp-receiver:dev" is not present with pull policy of Never`}},
		{"invalid image name", corev1.PodPending, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled},
			ContainerStatuses: []corev1.ContainerStatus{waiting("a", "InvalidImageName", `Failed to apply default image tag "X:": couldn't parse image name`)}},
			&configdb.PodReason{Reason: "InvalidImageName", Container: "a", Message: `Failed to apply default image tag "X:": couldn't parse image name`}},
		{"crash loop, out of memory", corev1.PodRunning, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled},
			ContainerStatuses: []corev1.ContainerStatus{running("sidecar"), crashLoop("worker", "OOMKilled", 137)}},
			&configdb.PodReason{Reason: "CrashLoopBackOff", Container: "worker", Message: "back-off 40s restarting failed container=worker",
				ExitCode: exitCode(137), ExitReason: "OOMKilled"}},
		{"crash loop, exit 0", corev1.PodRunning, corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{crashLoop("w", "Completed", 0)}},
			&configdb.PodReason{Reason: "CrashLoopBackOff", Container: "w", Message: "back-off 40s restarting failed container=w",
				ExitCode: exitCode(0), ExitReason: "Completed"}},
		{"failed: out of memory", corev1.PodFailed, corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{terminated("ok", "Completed", 0), terminated("w", "OOMKilled", 137)}},
			&configdb.PodReason{Reason: "OOMKilled", Container: "w", ExitCode: exitCode(137)}},
		{"failed: error, two containers", corev1.PodFailed, corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Error", 3), terminated("b", "", 1)}},
			&configdb.PodReason{Reason: "Error", Container: "a", ExitCode: exitCode(3), OtherContainers: 1}},
		{"failed: the pod's deadline", corev1.PodFailed, corev1.PodStatus{Reason: "DeadlineExceeded", Message: "Pod was active on the node longer than the specified deadline",
			ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Error", 137)}},
			&configdb.PodReason{Reason: "DeadlineExceeded", Message: "Pod was active on the node longer than the specified deadline"}},
		{"evicted", corev1.PodFailed, corev1.PodStatus{Reason: "Evicted", Message: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi."},
			&configdb.PodReason{Reason: "Evicted", Message: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi."}},
		{"init container pulling fails", corev1.PodPending, corev1.PodStatus{Conditions: []corev1.PodCondition{scheduled},
			InitContainerStatuses: []corev1.ContainerStatus{terminated("first", "Completed", 0), waiting("fetch", "ImagePullBackOff", "Back-off pulling image")},
			ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing", "")}},
			&configdb.PodReason{Reason: "ImagePullBackOff", Container: "fetch", InitContainer: true, Message: "Back-off pulling image"}},
		{"init container crash loop", corev1.PodPending, corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{crashLoop("setup", "Error", 2)},
			ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing", "")}},
			&configdb.PodReason{Reason: "CrashLoopBackOff", Container: "setup", InitContainer: true, Message: "back-off 40s restarting failed container=setup",
				ExitCode: exitCode(2), ExitReason: "Error"}},
		{"init container failed", corev1.PodFailed, corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{terminated("setup", "Error", 1)},
			ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing", "")}},
			&configdb.PodReason{Reason: "Error", Container: "setup", InitContainer: true, ExitCode: exitCode(1)}},
		{"the init container first, the others counted", corev1.PodPending, corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{waiting("setup", "CreateContainerConfigError", `secret "s" not found`)},
			ContainerStatuses:     []corev1.ContainerStatus{pull, waiting("b", "ErrImagePull", "")}},
			&configdb.PodReason{Reason: "CreateContainerConfigError", Container: "setup", InitContainer: true, Message: `secret "s" not found`, OtherContainers: 2}},
		{"cancelled while pulling", corev1.PodPending, corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{pull}},
			&configdb.PodReason{Reason: "ErrImagePull", Container: "receiver", Message: pull.State.Waiting.Message}},
		{"unknown phase, node lost", corev1.PodUnknown, corev1.PodStatus{Reason: "NodeLost", Message: "Node n which was running pod p is unresponsive"},
			&configdb.PodReason{Reason: "NodeLost", Message: "Node n which was running pod p is unresponsive"}},
	}
	for _, tt := range tests {
		p := &corev1.Pod{Status: tt.st}
		p.Status.Phase = tt.phase
		if strings.HasPrefix(tt.name, "cancelled") {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		got, ok := Reason(p)
		switch {
		case tt.want == nil && ok:
			t.Errorf("%s: reason %+v, want none", tt.name, got)
		case tt.want != nil && (!ok || !got.Equal(*tt.want)):
			t.Errorf("%s: reason %+v (%v), want %+v", tt.name, got, ok, *tt.want)
		}
	}
}

// What the kubelet says can be long; what goes to the state entry is not.
func TestReasonIsBounded(t *testing.T) {
	cs := make([]corev1.ContainerStatus, 50)
	for i := range cs {
		cs[i] = waiting(strings.Repeat("c", 100), "ErrImagePull", strings.Repeat("registry said no. ", 100))
	}
	got, ok := Reason(&corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: cs}})
	if !ok || len(got.Message) > configdb.MaxReasonMessage || len(got.Container) > configdb.MaxReasonWord || got.OtherContainers != 49 {
		t.Errorf("reason %+v", got)
	}
}

// FuzzReason: whatever the API server says of a pod, its reason is
// bounded, has a reason word, and exists only for pods that do not run.
func FuzzReason(f *testing.F) {
	f.Add("Pending", "", "", "ErrImagePull", "pull access denied", int32(0), false, false)
	f.Add("Failed", "Evicted", "The node was low on resource", "", "", int32(0), false, false)
	f.Add("Failed", "", "", "", "\xff\xfe", int32(137), true, true)
	f.Add("Running", "", "", "CrashLoopBackOff", strings.Repeat("é", 300), int32(1), false, true)
	f.Fuzz(func(t *testing.T, phase, podReason, podMessage, waitReason, message string, exit int32, init, term bool) {
		cs := waiting("c", waitReason, message)
		if term {
			cs = terminated("c", waitReason, exit)
			cs.State.Terminated.Message = message
		}
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPhase(phase), Reason: podReason, Message: podMessage,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
		if init {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{cs}
		} else {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		}
		r, ok := Reason(p)
		if !ok {
			return
		}
		if s := Of(p); s == configdb.PodRunning || s == configdb.PodFinished {
			t.Fatalf("%s pod has reason %+v", s, r)
		}
		if r.Reason == "" || !r.Bounded().Equal(r) || r.OtherContainers != 0 {
			t.Fatalf("reason %+v", r)
		}
	})
}
