package configdb

import (
	corev1 "k8s.io/api/core/v1"
)

// Labels that name the Helm release of a pod, in the order they are trusted:
// charts following the Kubernetes recommended labels set the first, older
// charts only the second.
const (
	LabelInstance = "app.kubernetes.io/instance"
	LabelRelease  = "release"
)

// PodStatusOf maps a pod to the status processing scripts see:
//
//	being deleted before it ended     CANCELLED
//	Pending                           PENDING
//	Running, condition Ready=True     RUNNING
//	Running, not Ready                PENDING
//	Succeeded                         FINISHED
//	Failed                            FAILED
//	Unknown, empty or anything else   UNSET
func PodStatusOf(pod *corev1.Pod) PodStatus {
	phase := pod.Status.Phase
	if pod.DeletionTimestamp != nil && phase != corev1.PodSucceeded && phase != corev1.PodFailed {
		return PodCancelled
	}
	switch phase {
	case corev1.PodPending:
		return PodPending
	case corev1.PodRunning:
		if podReady(pod) {
			return PodRunning
		}
		return PodPending
	case corev1.PodSucceeded:
		return PodFinished
	case corev1.PodFailed:
		return PodFailed
	}
	return PodUnset
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ReleaseOfPod returns the Helm release name a pod's labels name, or "".
func ReleaseOfPod(labels map[string]string) string {
	if name := labels[LabelInstance]; name != "" {
		return name
	}
	return labels[LabelRelease]
}

// DeploymentIDOfPod returns the deployment id of a pod from its release
// label and the release prefix; ok is false for pods of no deployment of
// this deployer (no label, another prefix, or a name that is no valid id).
func DeploymentIDOfPod(labels map[string]string, prefix string) (id string, ok bool) {
	name := ReleaseOfPod(labels)
	if name == "" {
		return "", false
	}
	return IDFromReleaseName(prefix, name)
}
