// Package podstatus is the pod-monitor's rule for what a pod means to a
// processing script: which deployment it belongs to (its release labels) and
// which status the state entry reports for it (its phase and conditions).
// The status values themselves are part of the config DB contract
// (configdb.PodStatus); how a Kubernetes pod maps to them is decided here.
//
// The pod cache classifies every pod with it; the statuses and the
// labels are those of docs/architecture.md, §3. Who owns which key.
package podstatus

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Labels that name the Helm release of a pod, in the order they are trusted:
// charts following the Kubernetes recommended labels set the first, older
// charts only the second.
const (
	LabelInstance = "app.kubernetes.io/instance"
	LabelRelease  = "release"
)

// Of maps a pod to the status processing scripts see:
//
//	being deleted before it ended     CANCELLED
//	Pending                           PENDING
//	Running, condition Ready=True     RUNNING
//	Running, not Ready                PENDING
//	Succeeded                         FINISHED
//	Failed                            FAILED
//	Unknown, empty or anything else   UNSET
func Of(pod *corev1.Pod) configdb.PodStatus {
	phase := pod.Status.Phase
	if pod.DeletionTimestamp != nil && phase != corev1.PodSucceeded && phase != corev1.PodFailed {
		return configdb.PodCancelled
	}
	switch phase {
	case corev1.PodPending:
		return configdb.PodPending
	case corev1.PodRunning:
		if podReady(pod) {
			return configdb.PodRunning
		}
		return configdb.PodPending
	case corev1.PodSucceeded:
		return configdb.PodFinished
	case corev1.PodFailed:
		return configdb.PodFailed
	}
	return configdb.PodUnset
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Release returns the Helm release name a pod's labels name, or "".
func Release(labels map[string]string) string {
	if name := labels[LabelInstance]; name != "" {
		return name
	}
	return labels[LabelRelease]
}

// DeploymentID returns the deployment id of a pod from its release
// label and the release prefix; ok is false for pods of no deployment of
// this deployer (no label, another prefix, or a name that is no valid id).
func DeploymentID(labels map[string]string, prefix string) (id string, ok bool) {
	name := Release(labels)
	if name == "" {
		return "", false
	}
	return configdb.IDFromReleaseName(prefix, name)
}
