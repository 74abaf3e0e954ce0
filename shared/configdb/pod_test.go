package configdb

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodStatusOf(t *testing.T) {
	now := metav1.Now()
	ready := func(s corev1.ConditionStatus) []corev1.PodCondition {
		return []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: s}}
	}
	tests := []struct {
		name     string
		phase    corev1.PodPhase
		conds    []corev1.PodCondition
		deleting bool
		want     PodStatus
	}{
		{"pending", corev1.PodPending, nil, false, PodPending},
		{"running ready", corev1.PodRunning, ready(corev1.ConditionTrue), false, PodRunning},
		{"running not ready", corev1.PodRunning, ready(corev1.ConditionFalse), false, PodPending},
		{"running no ready condition", corev1.PodRunning, nil, false, PodPending},
		{"running ready unknown", corev1.PodRunning, ready(corev1.ConditionUnknown), false, PodPending},
		{"succeeded", corev1.PodSucceeded, nil, false, PodFinished},
		{"failed", corev1.PodFailed, nil, false, PodFailed},
		{"unknown", corev1.PodUnknown, nil, false, PodUnset},
		{"no phase", "", nil, false, PodUnset},
		{"odd phase", "Exploded", nil, false, PodUnset},
		{"deleted while pending", corev1.PodPending, nil, true, PodCancelled},
		{"deleted while running", corev1.PodRunning, ready(corev1.ConditionTrue), true, PodCancelled},
		{"deleted after success", corev1.PodSucceeded, nil, true, PodFinished},
		{"deleted after failure", corev1.PodFailed, nil, true, PodFailed},
	}
	for _, tt := range tests {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: tt.phase, Conditions: tt.conds}}
		if tt.deleting {
			p.DeletionTimestamp = &now
		}
		if got := PodStatusOf(p); got != tt.want {
			t.Errorf("%s: PodStatusOf = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestDeploymentIDOfPod(t *testing.T) {
	tests := []struct {
		labels map[string]string
		prefix string
		want   string
		ok     bool
	}{
		{map[string]string{LabelInstance: "sdp-proc-1"}, "sdp", "proc-1", true},
		{map[string]string{LabelRelease: "sdp-proc-1"}, "sdp", "proc-1", true},
		{map[string]string{LabelInstance: "sdp-a", LabelRelease: "sdp-b"}, "sdp", "a", true},
		{map[string]string{LabelInstance: "proc-1"}, "", "proc-1", true},
		{map[string]string{LabelInstance: "other-x"}, "sdp", "", false},
		{map[string]string{"app": "x"}, "sdp", "", false},
		{nil, "", "", false},
		{map[string]string{LabelInstance: "sdp-bad_id"}, "sdp", "", false},
	}
	for _, tt := range tests {
		got, ok := DeploymentIDOfPod(tt.labels, tt.prefix)
		if got != tt.want || ok != tt.ok {
			t.Errorf("DeploymentIDOfPod(%v, %q) = %q, %v; want %q, %v", tt.labels, tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}
