package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testWhatRuns: the state entry says what really runs. Pods that cannot
// run say why (the scheduler's word, a failed container's exit, an init
// container that never ends), the release says whether its workloads are
// ready (a failed Job makes it failed), and objects of a live release
// deleted and changed by hand are put back, with no new revision, and
// reported. The chart values of the run make changed objects corrected
// too (release-manager.drift.correctChanged).
func testWhatRuns(t *testing.T, sys *System, script *Script, report *Report) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	begin := time.Now()
	entries := []struct {
		id, chart string
		values    map[string]any
	}{
		{"why-unsched", "demo-receive", map[string]any{"receiver.port": 9201, "resources": map[string]any{"requests": map[string]any{"cpu": "100000"}}}},
		{"why-fail", "demo-task", map[string]any{"receiver.port": 9202, "podAnnotations": map[string]any{"sdp.test/stage": "fail"}}},
		{"why-init", "demo-receive", map[string]any{"receiver.port": 9203, "initWait": true, "podAnnotations": map[string]any{"sdp.test/stage": "init-stuck"}}},
		{"why-ok", "demo-receive", map[string]any{"receiver.port": 9204}},
	}
	for _, e := range entries {
		if err := script.Put(ctx, e.id, FormKeyKind, e.chart, e.values); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(id, what string, cond func(RawState) bool) RawState {
		t.Helper()
		st, err := script.WaitState(ctx, id, 90*time.Second, what, func(st RawState, found bool) bool { return found && cond(st) })
		if err != nil {
			t.Error(err)
		}
		return st
	}
	onlyPod := func(st RawState, status string) (string, bool) {
		for name, s := range st.Pods {
			return name, len(st.Pods) == 1 && s == status
		}
		return "", false
	}
	wait("why-unsched", "pod PENDING, Unschedulable: Insufficient cpu", func(st RawState) bool {
		pod, ok := onlyPod(st, "PENDING")
		r := st.Reasons[pod]
		return ok && r.Reason == "Unschedulable" && strings.Contains(r.Message, "Insufficient cpu")
	})
	wait("why-fail", "pod FAILED, exit 3; release failed: BackoffLimitExceeded", func(st RawState) bool {
		pod, ok := onlyPod(st, "FAILED")
		r := st.Reasons[pod]
		return ok && r.Reason == "Error" && r.ExitCode != nil && *r.ExitCode == 3 && st.Release != nil &&
			st.Release.Readiness == "failed" && strings.Contains(st.Release.ReadinessReason, "BackoffLimitExceeded")
	})
	wait("why-init", "pod PENDING, init container wait not finished", func(st RawState) bool {
		pod, ok := onlyPod(st, "PENDING")
		r := st.Reasons[pod]
		return ok && r.Reason == "ContainersNotInitialized" && r.Container == "wait" && r.InitContainer &&
			st.Release != nil && st.Release.Readiness == "not-ready"
	})
	wait("why-ok", "pod RUNNING, release ready, no reasons", func(st RawState) bool {
		_, ok := onlyPod(st, "RUNNING")
		return ok && len(st.Reasons) == 0 && st.Release != nil && st.Release.Readiness == "ready"
	})
	report.Happy = append(report.Happy, Timing{"4 entries: reasons of pods that cannot run, readiness", time.Since(begin)})

	// Drift: the Deployment deleted, then its image changed, by hand.
	name := ReleaseName(sys.Env.HelmPrefix, "why-ok") + "-receive"
	deployments := sys.Kube.AppsV1().Deployments(sys.Env.HelmNamespace)
	before, err := deployments.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	image := before.Spec.Template.Spec.Containers[0].Image
	step := time.Now()
	if err := deployments.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	drifted := func(change string) func(RawState) bool {
		return func(st RawState) bool {
			if st.Release == nil {
				return false
			}
			for _, d := range st.Release.Drift {
				if d.Kind == "Deployment" && d.Name == name && d.Change == change && d.Corrected != "" {
					return true
				}
			}
			return false
		}
	}
	wait("why-ok", "deleted Deployment made again and reported", drifted("deleted"))
	wait("why-ok", "ready again, pod RUNNING", func(st RawState) bool {
		_, ok := onlyPod(st, "RUNNING")
		return ok && st.Release != nil && st.Release.Readiness == "ready"
	})
	report.Happy = append(report.Happy, Timing{"Deployment deleted by hand → made again, ready, reported", time.Since(step)})
	step = time.Now()
	d, err := deployments.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "elsewhere/receiver:by-hand"
	if _, err := deployments.Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	wait("why-ok", "changed Deployment put back and reported", drifted("changed"))
	if d, err := deployments.Get(ctx, name, metav1.GetOptions{}); err != nil || d.Spec.Template.Spec.Containers[0].Image != image {
		t.Errorf("image after the correction: %v (error %v), want %s", d.Spec.Template.Spec.Containers[0].Image, err, image)
	}
	report.Happy = append(report.Happy, Timing{"Deployment's image changed by hand → put back, reported", time.Since(step)})
	st, _, err := script.State(ctx, "why-ok")
	if err != nil || st.Release == nil || st.Release.Revision != 1 {
		t.Errorf("drift corrected with a new revision: %+v %v", st.Release, err)
	}

	for _, e := range entries {
		if err := script.Delete(ctx, e.id, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		if _, err := script.WaitState(ctx, e.id, 90*time.Second, "state entry gone", Gone); err != nil {
			t.Error(err)
		}
	}
	requireConverged(ctx, t, sys, script, "after the entries of what runs are deleted")
}

// noDriftReported checks that no state entry reports drift: the chaos run
// deletes and changes no object of a release by hand, so any would be
// spurious.
func noDriftReported(ctx context.Context, t *testing.T, script *Script) {
	t.Helper()
	for id := range script.Model() {
		st, found, err := script.State(ctx, id)
		if err != nil {
			t.Error(err)
			continue
		}
		if found && st.Release != nil && len(st.Release.Drift) > 0 {
			t.Errorf("/deploy/%s: drift reported where nobody changed anything: %s", id, fmt.Sprint(st.Release.Drift))
		}
	}
}
