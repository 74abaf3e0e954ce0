package podstatus

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func TestOf(t *testing.T) {
	now := metav1.Now()
	ready := func(s corev1.ConditionStatus) []corev1.PodCondition {
		return []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: s}}
	}
	tests := []struct {
		name     string
		phase    corev1.PodPhase
		conds    []corev1.PodCondition
		deleting bool
		want     configdb.PodStatus
	}{
		{"pending", corev1.PodPending, nil, false, configdb.PodPending},
		{"running ready", corev1.PodRunning, ready(corev1.ConditionTrue), false, configdb.PodRunning},
		{"running not ready", corev1.PodRunning, ready(corev1.ConditionFalse), false, configdb.PodPending},
		{"running no ready condition", corev1.PodRunning, nil, false, configdb.PodPending},
		{"running ready unknown", corev1.PodRunning, ready(corev1.ConditionUnknown), false, configdb.PodPending},
		{"succeeded", corev1.PodSucceeded, nil, false, configdb.PodFinished},
		{"failed", corev1.PodFailed, nil, false, configdb.PodFailed},
		{"unknown", corev1.PodUnknown, nil, false, configdb.PodUnset},
		{"no phase", "", nil, false, configdb.PodUnset},
		{"odd phase", "Exploded", nil, false, configdb.PodUnset},
		{"deleted while pending", corev1.PodPending, nil, true, configdb.PodCancelled},
		{"deleted while running", corev1.PodRunning, ready(corev1.ConditionTrue), true, configdb.PodCancelled},
		{"deleted after success", corev1.PodSucceeded, nil, true, configdb.PodFinished},
		{"deleted after failure", corev1.PodFailed, nil, true, configdb.PodFailed},
	}
	for _, tt := range tests {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: tt.phase, Conditions: tt.conds}}
		if tt.deleting {
			p.DeletionTimestamp = &now
		}
		if got := Of(p); got != tt.want {
			t.Errorf("%s: Of = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestDeploymentID(t *testing.T) {
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
		got, ok := DeploymentID(tt.labels, tt.prefix)
		if got != tt.want || ok != tt.ok {
			t.Errorf("DeploymentID(%v, %q) = %q, %v; want %q, %v", tt.labels, tt.prefix, got, ok, tt.want, tt.ok)
		}
	}
}
