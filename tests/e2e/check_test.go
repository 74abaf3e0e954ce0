package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func TestPodStatus(t *testing.T) {
	now := metav1.Now()
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	notReady := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	for _, tc := range []struct {
		name     string
		phase    corev1.PodPhase
		conds    []corev1.PodCondition
		deleting bool
		want     configdb.PodStatus
	}{
		{"pending", corev1.PodPending, nil, false, configdb.PodPending},
		{"running and ready", corev1.PodRunning, ready, false, configdb.PodRunning},
		{"running, not ready", corev1.PodRunning, notReady, false, configdb.PodPending},
		{"running, no conditions", corev1.PodRunning, nil, false, configdb.PodPending},
		{"succeeded", corev1.PodSucceeded, nil, false, configdb.PodFinished},
		{"failed", corev1.PodFailed, nil, false, configdb.PodFailed},
		{"unknown", corev1.PodUnknown, nil, false, configdb.PodUnset},
		{"no phase", "", nil, false, configdb.PodUnset},
		{"deleted while running", corev1.PodRunning, ready, true, configdb.PodCancelled},
		{"deleted while pending", corev1.PodPending, nil, true, configdb.PodCancelled},
		{"deleted after it succeeded", corev1.PodSucceeded, nil, true, configdb.PodFinished},
		{"deleted after it failed", corev1.PodFailed, nil, true, configdb.PodFailed},
	} {
		p := corev1.Pod{Status: corev1.PodStatus{Phase: tc.phase, Conditions: tc.conds}}
		if tc.deleting {
			p.DeletionTimestamp = &now
		}
		if got := PodStatus(p); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// converged is an Observed with nothing wrong: two deployments (one with a
// pod), their releases, state entries and pods, plus a release and a pod
// that are not the deployer's.
func converged() (Observed, map[string]*Written) {
	o := Observed{
		Entries: map[string]configdb.Deployment{
			"a": {ID: "a", Kind: "helm", Chart: "demo-receive", Values: map[string]any{"replicas": 1, "receiver": map[string]any{"port": 9000}}},
			"b": {ID: "b", Kind: "helm", Chart: "demo-receive"},
		},
		BadEntries: map[string]string{},
		States: map[string]configdb.DeploymentState{
			"a": {Pods: map[string]configdb.PodStatus{"sdp-a-1": configdb.PodRunning},
				Release: &configdb.ReleaseStatus{Name: "sdp-a", Status: "deployed", Revision: 2, Chart: "demo-receive"}},
			"b": {Release: &configdb.ReleaseStatus{Name: "sdp-b", Status: "deployed", Revision: 1, Chart: "demo-receive"}},
		},
		StateErrors: map[string]string{},
		Releases: map[string]Release{
			"sdp-a":   {Name: "sdp-a", Status: "deployed", Revision: 2, Chart: "demo-receive", Owned: true, Values: map[string]any{"replicas": float64(1), "receiver": map[string]any{"port": float64(9000)}}},
			"sdp-b":   {Name: "sdp-b", Status: "deployed", Revision: 1, Chart: "demo-receive", Owned: true},
			"foreign": {Name: "foreign", Status: "pending-install", Revision: 1, Chart: "other"},
		},
		Pods: []corev1.Pod{
			pod("sdp-a-1", "sdp-a", corev1.PodRunning),
			pod("unrelated", "someone-else", corev1.PodRunning),
		},
	}
	model := map[string]*Written{
		"a":    {Chart: "demo-receive", Values: map[string]any{"replicas": 1, "receiver.port": 9000}},
		"b":    {Chart: "demo-receive"},
		"gone": nil,
	}
	return o, model
}

func pod(name, release string, phase corev1.PodPhase) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/instance": release}},
		Status: corev1.PodStatus{Phase: phase}}
	if phase == corev1.PodRunning {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	return p
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(o *Observed, model map[string]*Written)
		// want are substrings of the mismatches, one each; none means
		// converged.
		want []string
	}{
		{"converged", func(*Observed, map[string]*Written) {}, nil},
		{"missing release", func(o *Observed, _ map[string]*Written) { delete(o.Releases, "sdp-b") },
			[]string{"missing release: /deploy/b has no owned release sdp-b"}},
		{"release not owned", func(o *Observed, _ map[string]*Written) {
			r := o.Releases["sdp-b"]
			r.Owned = false
			o.Releases["sdp-b"] = r
		}, []string{"missing release: /deploy/b"}},
		{"orphan release", func(o *Observed, _ map[string]*Written) {
			o.Releases["sdp-c"] = Release{Name: "sdp-c", Status: "deployed", Revision: 1, Chart: "demo-receive", Owned: true}
		}, []string{"orphan release: sdp-c"}},
		{"release left pending", func(o *Observed, _ map[string]*Written) {
			r := o.Releases["sdp-b"]
			r.Status = "pending-upgrade"
			o.Releases["sdp-b"] = r
			o.States["b"].Release.Status = "pending-upgrade"
		}, []string{"release left pending: sdp-b is pending-upgrade", "release not deployed: sdp-b is pending-upgrade"}},
		{"release with old values", func(o *Observed, _ map[string]*Written) {
			r := o.Releases["sdp-a"]
			r.Values = map[string]any{"replicas": float64(2)}
			o.Releases["sdp-a"] = r
		}, []string{"wrong values: release sdp-a has values"}},
		{"release of another chart", func(o *Observed, _ map[string]*Written) {
			r := o.Releases["sdp-b"]
			r.Chart = "other"
			o.Releases["sdp-b"] = r
		}, []string{"wrong chart: release sdp-b runs chart other"}},
		{"stale state revision", func(o *Observed, _ map[string]*Written) { o.States["a"].Release.Revision = 1 },
			[]string{"stale state: /deploy/a/state says release sdp-a deployed revision 1"}},
		{"state keeps an old error", func(o *Observed, _ map[string]*Written) { o.States["b"].Release.Error = "boom" },
			[]string{"keeps the error"}},
		{"no state", func(o *Observed, _ map[string]*Written) { delete(o.States, "b") }, []string{"no state: no state entry for /deploy/b"}},
		{"state without release part", func(o *Observed, _ map[string]*Written) { o.States["b"] = configdb.DeploymentState{} },
			[]string{"no release part: /deploy/b/state has no release part"}},
		{"orphan state", func(o *Observed, _ map[string]*Written) { o.States["gone"] = configdb.DeploymentState{} },
			[]string{"orphan state: /deploy/gone/state"}},
		{"pod missing from the map", func(o *Observed, _ map[string]*Written) {
			o.Pods = append(o.Pods, pod("sdp-b-1", "sdp-b", corev1.PodPending))
		}, []string{`pods map: /deploy/b/state has null, the pods are {"sdp-b-1":"PENDING"}`}},
		{"pod gone but in the map", func(o *Observed, _ map[string]*Written) { o.Pods = o.Pods[1:] },
			[]string{"pods map: /deploy/a/state"}},
		{"pods just changed under the map", func(o *Observed, _ map[string]*Written) {
			o.Pods = append(o.Pods, pod("sdp-b-1", "sdp-b", corev1.PodPending))
			o.At = time.Unix(100, 0)
			o.PodsChanged = map[string]time.Time{"sdp-b": o.At.Add(-PodsMapGrace + time.Millisecond)}
		}, []string{`pods changing: /deploy/b/state has null, the pods are {"sdp-b-1":"PENDING"} since 999ms ago`}},
		{"pods stood still under a stale map", func(o *Observed, _ map[string]*Written) {
			o.Pods = append(o.Pods, pod("sdp-b-1", "sdp-b", corev1.PodPending))
			o.At = time.Unix(100, 0)
			o.PodsChanged = map[string]time.Time{"sdp-b": o.At.Add(-PodsMapGrace)}
		}, []string{`pods map: /deploy/b/state has null, the pods are {"sdp-b-1":"PENDING"}`}},
		{"other pods changed", func(o *Observed, _ map[string]*Written) {
			o.Pods = append(o.Pods, pod("sdp-b-1", "sdp-b", corev1.PodPending))
			o.At = time.Unix(100, 0)
			o.PodsChanged = map[string]time.Time{"sdp-a": o.At}
		}, []string{`pods map: /deploy/b/state has null`}},
		{"pod status stale", func(o *Observed, _ map[string]*Written) { o.States["a"].Pods["sdp-a-1"] = configdb.PodPending },
			[]string{`has {"sdp-a-1":"PENDING"}, the pods are {"sdp-a-1":"RUNNING"}`}},
		{"pod of a deleted deployment left", func(o *Observed, _ map[string]*Written) {
			o.Pods = append(o.Pods, pod("sdp-gone-1", "sdp-gone", corev1.PodRunning))
		}, []string{"orphan pod: sdp-gone-1 (RUNNING) of release sdp-gone, which has no entry"}},
		{"lost write", func(_ *Observed, m map[string]*Written) { m["a"].Values["replicas"] = 3 },
			[]string{"lost write: /deploy/a holds"}},
		{"lost create", func(_ *Observed, m map[string]*Written) { m["new"] = &Written{Chart: "demo-receive"} },
			[]string{"lost write: /deploy/new"}},
		{"lost delete", func(_ *Observed, m map[string]*Written) { m["b"] = nil }, []string{"lost delete: /deploy/b"}},
		{"bad entry", func(o *Observed, _ map[string]*Written) { o.BadEntries["x"] = "not JSON" },
			[]string{"bad entry: /deploy/x does not decode"}},
	} {
		o, model := converged()
		tc.change(&o, model)
		got := Compare(o, "sdp", model)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d mismatches, want %d:\n%s", tc.name, len(got), len(tc.want), strings.Join(got, "\n"))
			continue
		}
		for _, w := range tc.want {
			found := false
			for _, g := range got {
				found = found || strings.Contains(g, w)
			}
			if !found {
				t.Errorf("%s: no mismatch says %q:\n%s", tc.name, w, strings.Join(got, "\n"))
			}
		}
	}
}

func TestSummarise(t *testing.T) {
	o, model := converged()
	delete(o.Releases, "sdp-b")
	o.States["gone"] = configdb.DeploymentState{}
	o.States["a"].Release.Revision = 1
	got := Summarise(Compare(o, "sdp", model))
	want := map[string]int{"missing release": 1, "orphan state": 1, "stale state": 1}
	if len(got) != len(want) {
		t.Fatalf("summary %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("summary %v, want %v", got, want)
		}
	}
}

func TestCompareWithoutPrefix(t *testing.T) {
	o := Observed{
		Entries:  map[string]configdb.Deployment{"a": {ID: "a", Kind: "helm", Chart: "oci://registry.local/charts/demo-receive"}},
		States:   map[string]configdb.DeploymentState{"a": {Release: &configdb.ReleaseStatus{Name: "a", Status: "deployed", Revision: 1}}},
		Releases: map[string]Release{"a": {Name: "a", Status: "deployed", Revision: 1, Chart: "demo-receive", Owned: true}},
	}
	if got := Compare(o, "", nil); len(got) != 0 {
		t.Errorf("converged system without prefix: %q", got)
	}
	o.Releases["b"] = Release{Name: "b", Status: "deployed", Revision: 1, Chart: "demo-receive", Owned: true}
	if got := Compare(o, "", nil); len(got) != 1 || !strings.Contains(got[0], "orphan release: b (") {
		t.Errorf("orphan release without prefix: %q", got)
	}
}
