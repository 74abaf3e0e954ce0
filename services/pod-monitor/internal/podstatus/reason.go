package podstatus

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Waiting reasons that are a container's ordinary way to start, not a
// problem: a reason for them would be one more config DB write per pod
// start, saying nothing a script can act on.
var startingReasons = map[string]bool{"": true, "ContainerCreating": true, "PodInitializing": true}

// Reason says why a pod is not RUNNING or FINISHED, for the state entry's
// reasons part (configdb.PartReasons); ok is false when there is nothing
// to say: the pod runs or has finished, or it is on its ordinary way
// there. The first that applies is said:
//
//	the pod's own reason (Evicted, DeadlineExceeded, NodeLost, ...)   reason and message of the pod status
//	PodScheduled False (Unschedulable, SchedulingGated, ...)          the condition's reason and message
//	a container waiting for other than its start (ErrImagePull,       the waiting reason and message, and its
//	  ImagePullBackOff, CrashLoopBackOff, CreateContainerError, ...)    last exit code and reason, if any
//	a container terminated with a non-zero exit code                  its reason (Error, OOMKilled, ...), exit code and message
//
// Init containers are looked at before the others, since while one has not
// completed the others only wait for it. One container is described; how
// many more have a problem is counted. The result is bounded
// (configdb.PodReason.Bounded).
func Reason(pod *corev1.Pod) (configdb.PodReason, bool) {
	switch Of(pod) {
	case configdb.PodRunning, configdb.PodFinished:
		return configdb.PodReason{}, false
	}
	if pod.Status.Reason != "" {
		return configdb.PodReason{Reason: pod.Status.Reason, Message: pod.Status.Message}.Bounded(), true
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			r := configdb.PodReason{Reason: c.Reason, Message: c.Message}
			if r.Reason == "" {
				r.Reason = corev1.PodReasonUnschedulable
			}
			return r.Bounded(), true
		}
	}
	var first configdb.PodReason
	found := 0
	for i, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			r, ok := containerReason(cs)
			if !ok {
				continue
			}
			if found == 0 {
				r.InitContainer = i == 0
				first = r
			}
			found++
		}
	}
	if found == 0 {
		return initializing(pod)
	}
	first.OtherContainers = found - 1
	return first.Bounded(), true
}

// initializing says which init container a pod is still waiting for,
// when nothing is wrong otherwise: one that never ends (a wait for a
// service that never comes) keeps the pod PENDING with no other word.
// Sidecars (init containers with restartPolicy Always) run for the pod's
// life and are not waited for.
func initializing(pod *corev1.Pod) (configdb.PodReason, bool) {
	sidecar := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecar[c.Name] = true
		}
	}
	for _, cs := range pod.Status.InitContainerStatuses {
		if cs.State.Running == nil || sidecar[cs.Name] {
			continue
		}
		r := configdb.PodReason{Reason: "ContainersNotInitialized", Container: cs.Name, InitContainer: true,
			Message: "init container " + cs.Name + " has not finished"}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodInitialized && c.Status == corev1.ConditionFalse && c.Message != "" {
				r.Message = c.Message
			}
		}
		return r.Bounded(), true
	}
	return configdb.PodReason{}, false
}

func containerReason(cs corev1.ContainerStatus) (configdb.PodReason, bool) {
	if w := cs.State.Waiting; w != nil && !startingReasons[w.Reason] {
		r := configdb.PodReason{Reason: w.Reason, Message: w.Message, Container: cs.Name}
		if last := cs.LastTerminationState.Terminated; last != nil {
			code := last.ExitCode
			r.ExitCode = &code
			if last.Reason != r.Reason {
				r.ExitReason = last.Reason
			}
		}
		return r, true
	}
	if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
		r := configdb.PodReason{Reason: t.Reason, Message: t.Message, Container: cs.Name}
		if r.Reason == "" {
			// The kubelet's word for a non-zero exit with no better one.
			r.Reason = "Error"
		}
		code := t.ExitCode
		r.ExitCode = &code
		return r, true
	}
	return configdb.PodReason{}, false
}
