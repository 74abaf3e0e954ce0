package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

var update = flag.Bool("update", false, "rewrite the golden files of explain's output from what it prints now")

func code(c int32) *int32 { return &c }

func TestVerdict(t *testing.T) {
	helm := deploymentView{Found: true, Kind: configdb.KindHelm, Chart: "c"}
	deployed := func(mod func(r *configdb.ReleaseStatus), pods ...podView) stateView {
		r := &configdb.ReleaseStatus{Name: "sdp-x", Status: configdb.ReleaseDeployed, Revision: 2}
		if mod != nil {
			mod(r)
		}
		return stateView{Found: true, Release: r, Pods: pods}
	}
	running := podView{Name: "a-0", Status: configdb.PodRunning}
	finished := podView{Name: "job-1", Status: configdb.PodFinished}
	unschedulable := podView{Name: "b-0", Status: configdb.PodPending, Reason: &configdb.PodReason{
		Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}}
	crashing := podView{Name: "c-0", Status: configdb.PodFailed, Reason: &configdb.PodReason{
		Reason: "CrashLoopBackOff", Container: "w", ExitCode: code(137), ExitReason: "OOMKilled", Message: "back-off 5m0s"}}
	initFailed := podView{Name: "d-0", Status: configdb.PodPending, Reason: &configdb.PodReason{
		Reason: "Error", Container: "setup", InitContainer: true, ExitCode: code(0)}}
	bare := podView{Name: "e-0", Status: configdb.PodUnset}
	deleted := configdb.DriftRecord{Kind: "Deployment", Name: "x", Change: configdb.DriftDeleted, Seen: "2026-12-05T10:00:00Z", Corrected: "2026-12-05T10:00:01Z"}
	changed := configdb.DriftRecord{Kind: "StatefulSet", Name: "w", Change: configdb.DriftChanged, Fields: []string{"spec.replicas"}, Seen: "2026-12-05T10:00:02Z"}

	for _, tc := range []struct {
		name string
		d    deploymentView
		st   stateView
		want string
	}{
		{"nothing", deploymentView{}, stateView{}, "no deployment entry"},
		{"orphan state", deploymentView{}, stateView{Found: true}, "no deployment entry (a state entry is left over)"},
		{"entry does not decode", deploymentView{Found: true, Error: `bad deployment entry /deploy/x: no "kind" (or "type") field`}, stateView{},
			`not deployed: bad deployment entry /deploy/x: no "kind" (or "type") field`},
		{"another deployer's", deploymentView{Found: true, Kind: "slurm"}, stateView{}, `not the Helm Deployer's: kind "slurm" belongs to another deployer`},
		{"state unreadable", helm, stateView{Found: true, Error: "state entry cannot be read: it is an array, not a JSON object"},
			"unknown: state entry cannot be read: it is an array, not a JSON object"},
		{"no state entry", helm, stateView{}, "no release yet"},
		{"state without release part", helm, stateView{Found: true, Pods: []podView{running}}, "no release yet"},
		{"release error wins over everything after it", helm, deployed(func(r *configdb.ReleaseStatus) {
			r.Status, r.Error = configdb.ReleaseFailed, `chart "vis" version "9" not found in the repository`
		}, unschedulable), `failed: chart "vis" version "9" not found in the repository`},
		{"failed without words", helm, deployed(func(r *configdb.ReleaseStatus) { r.Status = configdb.ReleaseFailed }), "failed: revision 2 failed"},
		{"installing", helm, deployed(func(r *configdb.ReleaseStatus) { r.Status, r.Revision = configdb.ReleasePendingInstall, 1 }), "installing (revision 1)"},
		{"upgrading", helm, deployed(func(r *configdb.ReleaseStatus) { r.Status = configdb.ReleasePendingUpgrade }), "upgrading (revision 2)"},
		{"uninstalling", helm, deployed(func(r *configdb.ReleaseStatus) { r.Status = configdb.ReleaseUninstalling }), "uninstalling"},
		{"unknown status", helm, deployed(func(r *configdb.ReleaseStatus) { r.Status = "pending-rollback" }), "release pending-rollback"},
		{"workloads failed", helm, deployed(func(r *configdb.ReleaseStatus) {
			r.Readiness, r.ReadinessReason = configdb.ReadinessFailed, "Job x: BackoffLimitExceeded"
		}, running), "failed: Job x: BackoffLimitExceeded"},
		{"pending pod", helm, deployed(nil, running, unschedulable),
			"not running: pod b-0 PENDING (Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.)"},
		{"failed pod before pending ones", helm, deployed(nil, unschedulable, initFailed, crashing, running),
			"not running: pod c-0 FAILED (CrashLoopBackOff in container w, exit 137 OOMKilled: back-off 5m0s); 2 more pods not running"},
		{"init container", helm, deployed(nil, initFailed, bare),
			"not running: pod d-0 PENDING (Error in init container setup, exit 0); 1 more pod not running"},
		{"pod without a reason", helm, deployed(nil, bare), "not running: pod e-0 UNSET"},
		{"pods before readiness", helm, deployed(func(r *configdb.ReleaseStatus) {
			r.Readiness, r.ReadinessReason = configdb.ReadinessNotReady, "StatefulSet b: 0 of 1 replicas ready"
		}, unschedulable), "not running: pod b-0 PENDING (Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.)"},
		{"not ready", helm, deployed(func(r *configdb.ReleaseStatus) {
			r.Readiness, r.ReadinessReason = configdb.ReadinessNotReady, "Deployment x: 0 of 1 replicas available"
		}, running), "not ready: Deployment x: 0 of 1 replicas available"},
		{"not ready without reason", helm, deployed(func(r *configdb.ReleaseStatus) { r.Readiness = configdb.ReadinessNotReady }),
			"not ready: the release's workloads are not ready"},
		{"drift corrected", helm, deployed(func(r *configdb.ReleaseStatus) { r.Drift = []configdb.DriftRecord{deleted} }, running),
			"drifted: Deployment x deleted, corrected at 2026-12-05T10:00:01Z"},
		{"drift, the latest first", helm, deployed(func(r *configdb.ReleaseStatus) { r.Drift = []configdb.DriftRecord{deleted, changed} }, running),
			"drifted: StatefulSet w changed (spec.replicas), not corrected; 1 earlier drift"},
		{"no pods", helm, deployed(func(r *configdb.ReleaseStatus) { r.Readiness = configdb.ReadinessReady }), "deployed, no pods"},
		{"running", helm, deployed(nil, running, finished), "running"},
		{"finished", helm, deployed(nil, finished), "finished"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verdict(tc.d, tc.st); got != tc.want {
				t.Errorf("verdict =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestValuesSummary(t *testing.T) {
	long := "0123456789012345678901234567890123456789é-and-more"
	for _, tc := range []struct {
		values map[string]any
		want   string
	}{
		{nil, ""},
		{map[string]any{"b": "x", "a": map[string]any{"z": json.Number("2"), "y": []any{"p", "q"}}, "c": map[string]any{}},
			`a.y=["p","q"], a.z=2, b=x, c={}`},
		{map[string]any{"s": long}, "s=0123456789012345678901234567890123456..."},
		{map[string]any{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": true},
			"a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8, (2 more)"},
	} {
		if got := valuesSummary(tc.values); got != tc.want {
			t.Errorf("valuesSummary(%v) = %q, want %q", tc.values, got, tc.want)
		}
	}
}

func TestReleaseObjects(t *testing.T) {
	rel := &release.Release{
		Manifest: "---\n# Source: c/templates/d.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sdp-x\n" +
			"---\n# Source: c/templates/s.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: sdp-x-svc\n" +
			"---\n# Source: c/templates/bad.yaml\nnot: [yaml\n",
		Hooks: []*release.Hook{{Name: "sdp-x-setup", Kind: "Job"}},
	}
	o := releaseObjectsOf(rel, []string{"sdp-x-7d9f-abcde"})
	for _, tc := range []struct {
		kind, name string
		want       bool
	}{
		{"Deployment", "sdp-x", true},
		{"Service", "sdp-x-svc", true},
		{"Job", "sdp-x-setup", true},
		{"Pod", "sdp-x-7d9f-abcde", true},
		{"ReplicaSet", "sdp-x-7d9f", true},
		// Another release's objects, whose names start the same way.
		{"ReplicaSet", "sdp-x-y-7d9f", false},
		{"Deployment", "sdp-x-y", false},
		{"Pod", "sdp-x-y-0", false},
		{"Service", "sdp-x", false},
	} {
		if got := o.has(tc.kind, tc.name); got != tc.want {
			t.Errorf("has(%s, %s) = %v, want %v", tc.kind, tc.name, got, tc.want)
		}
	}
	if o := releaseObjectsOf(nil, nil); o.has("Deployment", "sdp-x") {
		t.Error("no release, yet an object of it")
	}
}

// goldenNow is the time the golden files' event ages are counted from.
var goldenNow = time.Date(2026, 12, 5, 10, 30, 0, 0, time.UTC)

// goldenExplanations are the inputs of the golden files: one of each part
// filled in, and one with nothing to read.
func goldenExplanations() map[string]explanation {
	full := explanation{
		ID: "my-receive", Release: "sdp-my-receive", Namespace: "sdp",
		Deployment: deploymentView{Found: true, Kind: "helm", Chart: "vis-receive", Version: "1.2.0", Values: map[string]any{
			"receiver": map[string]any{"replicas": json.Number("2"), "image": "artefact.skao.int/ska-sdp-realtime-receive-modules:4.1.0"},
			"worker":   map[string]any{"cpu": "500m"},
		}},
		State: stateView{Found: true,
			Release: &configdb.ReleaseStatus{
				Name: "sdp-my-receive", Status: configdb.ReleaseDeployed, Revision: 3, Chart: "vis-receive", Version: "1.2.0",
				Warning:   "the chart archive's digest differs from the repository index",
				Time:      "2026-12-05T10:02:00Z",
				Readiness: configdb.ReadinessNotReady, ReadinessReason: "StatefulSet sdp-my-receive-worker: 0 of 1 replicas ready",
				Drift: []configdb.DriftRecord{
					{Kind: "Deployment", Name: "sdp-my-receive-proxy", Change: configdb.DriftDeleted, Seen: "2026-12-05T10:10:00Z", Corrected: "2026-12-05T10:10:01Z"},
					{Kind: "StatefulSet", Name: "sdp-my-receive-worker", Change: configdb.DriftChanged,
						Fields: []string{"spec.replicas", "spec.template.spec.containers[name=worker].image"}, Seen: "2026-12-05T10:12:00Z"},
				},
			},
			Pods: []podView{
				{Name: "sdp-my-receive-proxy-7d9f-abcde", Status: configdb.PodRunning},
				{Name: "sdp-my-receive-receiver-0", Status: configdb.PodFailed, Reason: &configdb.PodReason{
					Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container=receiver",
					Container: "receiver", ExitCode: code(137), ExitReason: "OOMKilled", OtherContainers: 1}},
				{Name: "sdp-my-receive-worker-0", Status: configdb.PodPending, Reason: &configdb.PodReason{
					Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient cpu."}},
			},
		},
		Kubernetes: kubeView{
			Server: "https://k8s.example:6443",
			History: []helmRevision{
				{Revision: 1, Status: "superseded", Chart: "vis-receive", Version: "1.1.0", Updated: "2026-12-04T09:00:00Z", Description: "Install complete"},
				{Revision: 2, Status: "failed", Chart: "vis-receive", Version: "1.2.0", Updated: "2026-12-05T10:00:00Z",
					Description: `Upgrade "sdp-my-receive" failed: context deadline exceeded`},
				{Revision: 3, Status: "deployed", Chart: "vis-receive", Version: "1.2.0", Updated: "2026-12-05T10:02:00Z", Description: "Upgrade complete"},
			},
			Events: []kubeEvent{
				{Type: "Normal", Reason: "SuccessfulCreate", Object: "StatefulSet/sdp-my-receive-worker", Message: "create Pod sdp-my-receive-worker-0 in StatefulSet sdp-my-receive-worker successful", Count: 1, Time: "2026-12-05T10:02:01Z"},
				{Type: "Warning", Reason: "FailedScheduling", Object: "Pod/sdp-my-receive-worker-0", Message: "0/3 nodes are available: 3 Insufficient cpu.\npreemption: 0/3 nodes are available.", Count: 4, Time: "2026-12-05T10:25:00Z"},
				{Type: "Warning", Reason: "BackOff", Object: "Pod/sdp-my-receive-receiver-0", Message: "Back-off restarting failed container receiver", Count: 12, Time: "2026-12-05T10:29:30Z"},
			},
		},
	}
	nothing := explanation{
		ID: "broken", Release: "sdp-broken", Namespace: "sdp",
		Deployment: deploymentView{Found: true, Error: `bad deployment entry /deploy/broken: "args.chart" is missing or empty`, Kind: "helm"},
		State:      stateView{Found: true, Error: `state entry cannot be read: "pods" is a list, not an object`},
		Kubernetes: kubeView{Note: "not asked: no kubeconfig (--kubeconfig or KUBECONFIG); " + configDBOnly},
	}
	for _, ex := range []*explanation{&full, &nothing} {
		ex.Verdict = verdict(ex.Deployment, ex.State)
	}
	return map[string]explanation{"full": full, "unreadable": nothing}
}

// TestExplainGolden checks explain's table and JSON against the files in
// testdata; go test -run TestExplainGolden -update rewrites them.
func TestExplainGolden(t *testing.T) {
	for name, ex := range goldenExplanations() {
		for _, out := range []format{formatTable, formatJSON} {
			t.Run(name+"."+string(out), func(t *testing.T) {
				var buf bytes.Buffer
				if err := writeExplanation(&buf, out, ex, goldenNow); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", "explain_"+name+"."+string(out)+".golden")
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (go test -run TestExplainGolden -update writes it)", err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%s differs (go test -run TestExplainGolden -update rewrites it); got:\n%s", path, buf.Bytes())
				}
			})
		}
	}
}

// TestHistoryOf: revisions come in revision order, the last maxRevisions,
// with what a release whose chart or info is missing still says.
func TestHistoryOf(t *testing.T) {
	var revs []*release.Release
	for v := 12; v >= 1; v-- {
		revs = append(revs, &release.Release{Version: v,
			Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "c", Version: "0.1.0"}},
			Info:  &release.Info{Status: release.StatusSuperseded, Description: "Upgrade complete"}})
	}
	revs[0].Info = &release.Info{Status: release.StatusFailed, Description: "Upgrade \"x\" failed: boom"}
	revs = append(revs, &release.Release{Version: 13})
	h := historyOf(revs)
	if len(h) != maxRevisions || h[0].Revision != 4 || h[len(h)-1].Revision != 13 {
		t.Fatalf("history %+v: want revisions 4 to 13", h)
	}
	if got := h[len(h)-2]; got.Status != "failed" || got.Description != "Upgrade \"x\" failed: boom" || got.Chart != "c" {
		t.Errorf("revision 12 = %+v", got)
	}
	if got := h[len(h)-1]; got != (helmRevision{Revision: 13}) {
		t.Errorf("revision 13 without chart or info = %+v", got)
	}
}
