package app

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestUpgradeReadsEachObjectOnce upgrades a release of two objects, one
// changed (the Pod's image) and one not (the ConfigMap), and counts the
// GETs: Helm's Update reads each object up to three times, the
// release-manager's action client answers the repeats from the first read
// (helmexec's readOnce), so one GET per object is left. The Pod must still
// be patched to the new image.
func TestUpgradeReadsEachObjectOnce(t *testing.T) {
	e := newEnv(t)
	// The reads counted are the upgrade's: drift's look at the objects once
	// the release is settled reads them too.
	e.driftMode = "off"
	e.repo.Add(benchChart)
	var calls apiCounter
	stop := e.startCounting(&calls)
	defer stop()
	e.put("u", entry("u", "bench", "{}"))
	st := e.waitState("u", "installed", deployedAt(1))

	calls.resume()
	e.put("u", entry("u", "bench", `{"image": "`+upgradedImage+`"}`))
	e.waitState("u", "upgraded", deployedAt(2))
	calls.pause()

	calls.mu.Lock()
	got := calls.byVerb
	calls.mu.Unlock()
	if got["get"] != 2 || got["patch"] != 1 {
		t.Errorf("upgrade of 2 objects, 1 changed: %v calls; want 2 get (one per object) and 1 patch", got)
	}
	pod, err := e.cs.CoreV1().Pods(e.ns).Get(context.Background(), st.Release.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := pod.Spec.Containers[0].Image; img != upgradedImage {
		t.Errorf("pod image %q after the upgrade, want %q", img, upgradedImage)
	}
	if _, err := e.configMap(st.Release.Name); err != nil {
		t.Errorf("configmap after the upgrade: %v", err)
	}
}
