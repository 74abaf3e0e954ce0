package reconciler

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/logtest"
)

// Fast tests of the reconciler: a real etcd, Helm's in-memory release
// storage and fake kube client, and charts built in memory. The same
// behaviour against a real API server and chart repository is in the
// integration tests.

func TestInstallUpgradeUninstall(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, srv, nil)
	h.put("before", entryJSON("before", "cm", `{"replicas": 2}`))
	h.start()
	st := h.waitState("before", deployed(1))
	if st.Release.Name != "sdp-before" || st.Release.Chart != "cm" || st.Release.Version != "1.2.3" || st.Release.Time == "" {
		t.Errorf("release part: %+v", st.Release)
	}
	rel, _ := h.helm.Last("sdp-before")
	if rel.Config["replicas"] != int64(2) || rel.Labels[plan.LabelManagedBy] != plan.ManagedByValue {
		t.Errorf("release values %v labels %v", rel.Config, rel.Labels)
	}

	// Written after start, with old field names and dotted values.
	h.put("after", `{"dpl_id": "after", "type": "helm", "args": {"chart": "cm", "values": {"a.b.c": 1, "a.b.d": "x"}}}`)
	h.waitState("after", deployed(1))
	rel, _ = h.helm.Last("sdp-after")
	if fmt.Sprint(rel.Config["a"]) != "map[b:map[c:1 d:x]]" {
		t.Errorf("dotted values: %v", rel.Config)
	}

	// A change upgrades once; the same content again does nothing.
	h.put("before", entryJSON("before", "cm", `{"replicas": 3}`))
	h.waitState("before", deployed(2))
	h.put("before", entryJSON("before", "cm", `{"replicas":3}`))
	time.Sleep(300 * time.Millisecond)
	if n := len(h.revisions("sdp-before")); n != 2 {
		t.Errorf("%d revisions after an unchanged rewrite, want 2", n)
	}

	// Deleting the entry uninstalls and leaves no state.
	h.del("before")
	h.waitState("before", func(_ configdb.DeploymentState, found bool) bool { return !found })
	eventually.Eventually(t, 10*time.Second, func() error {
		if n := len(h.revisions("sdp-before")); n != 0 {
			return fmt.Errorf("release still has %d revisions after its entry was deleted", n)
		}
		return nil
	})

	// A restart over the same storage changes nothing.
	h.stop()
	h2 := newHarness(t, srv, h.helm)
	h2.start()
	time.Sleep(500 * time.Millisecond)
	if n := len(h.revisions("sdp-after")); n != 1 {
		t.Errorf("restart made revisions: %d", n)
	}
	if got := testutil.ToFloat64(h2.rec.metrics.actions.WithLabelValues("upgrade", "success")) +
		testutil.ToFloat64(h2.rec.metrics.actions.WithLabelValues("install", "success")); got != 0 {
		t.Errorf("restart ran %v Helm actions", got)
	}
	problems, err := testutil.GatherAndLint(h2.reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

func TestBadInput(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, srv, nil)
	h.start()
	long := strings.Repeat("x", 60)
	tests := []struct {
		id, body, says string
	}{
		{"bad-json", `{"key": "bad-json", "kind": "helm", "args": {`, "not valid JSON"},
		{"no-chart", `{"key": "no-chart", "kind": "helm", "args": {}}`, `"args.chart" is missing`},
		{long, entryJSON(long, "cm", "{}"), "at most 53"},
		{"Upper", entryJSON("Upper", "cm", "{}"), "invalid release name"},
		{"unknown-chart", entryJSON("unknown-chart", "nope", "{}"), `no chart "nope"`},
		{"conflict", entryJSON("conflict", "cm", `{"a": 1, "a.b": 2}`), `both set "a"`},
		{"cluster", entryJSON("cluster", "cluster", "{}"), `ClusterRole "sdp-cluster" is cluster-scoped`},
	}
	for _, tt := range tests {
		h.put(tt.id, tt.body)
	}
	h.put("good", entryJSON("good", "cm", "{}"))
	for _, tt := range tests {
		st := h.waitState(tt.id, func(st configdb.DeploymentState, _ bool) bool { return st.Release != nil && st.Release.Error != "" })
		if !strings.Contains(st.Release.Error, tt.says) || st.Release.Status != "failed" {
			t.Errorf("%s: state %+v does not say %q", tt.id, st.Release, tt.says)
		}
	}
	// The others go on.
	h.waitState("good", deployed(1))
	// Bounded attempts: the unknown chart is tried MaxAttempts times, not
	// forever.
	time.Sleep(2 * time.Second)
	if got := testutil.ToFloat64(h.rec.metrics.entryErrors.WithLabelValues("chart")); got != 3 {
		t.Errorf("unknown chart tried %v times, want 3", got)
	}
	// A fixed entry deploys.
	h.put("bad-json", entryJSON("bad-json", "cm", "{}"))
	h.waitState("bad-json", deployed(1))
}

// TestTakeover: releases installed as the Python deployer installs them
// (no labels, values from the entry) are adopted without a new revision
// when unchanged, upgraded once when their entry differs, and kept when no
// entry names them; with UninstallUnowned, those are uninstalled if their
// name has the prefix.
func TestTakeover(t *testing.T) {
	for _, uninstall := range []bool{false, true} {
		t.Run(fmt.Sprintf("uninstall-unowned=%v", uninstall), func(t *testing.T) {
			srv := etcdtest.Start(t)
			h := newHarness(t, srv, nil)
			h.rec.cfg.Options.UninstallUnowned = uninstall
			var logs logtest.Buffer
			h.rec.cfg.Log = slog.New(slog.NewJSONHandler(&logs, nil))
			python := func(name string, values map[string]any) {
				rel := &release.Release{Name: name, Namespace: ns, Version: 1, Chart: testCharts["cm"], Config: values,
					Info: &release.Info{Status: release.StatusDeployed}}
				if err := h.helm.Create(rel); err != nil {
					t.Fatal(err)
				}
			}
			python("sdp-same", map[string]any{"replicas": float64(2)})
			python("sdp-changed", map[string]any{"replicas": float64(2)})
			python("sdp-orphan", map[string]any{"replicas": float64(2)})
			python("not-sdp", nil)
			h.put("same", entryJSON("same", "cm", `{"replicas": 2}`))
			h.put("changed", entryJSON("changed", "cm", `{"replicas": 5}`))
			h.start()
			h.waitState("same", deployed(1))
			h.waitState("changed", deployed(2))
			if rels := h.revisions("sdp-same"); len(rels) != 1 || rels[0].Labels[plan.LabelManagedBy] != plan.ManagedByValue ||
				rels[0].Labels[plan.LabelDigest] != plan.Digest(configdb.Deployment{Chart: "cm", Values: map[string]any{"replicas": json.Number("2")}}) {
				t.Errorf("unchanged release: %d revisions, labels %v; want 1, adopted", len(rels), rels[len(rels)-1].Labels)
			}
			if rel, _ := h.helm.Last("sdp-changed"); rel.Config["replicas"] != int64(5) {
				t.Errorf("changed release values %v", rel.Config)
			}
			wantOrphans := 2.0
			if uninstall {
				wantOrphans = 1 // not-sdp stays: its name is not <prefix>-<id>
				eventually.True(t, 10*time.Second, "unowned release sdp-orphan uninstalled", func() bool {
					return len(h.revisions("sdp-orphan")) == 0
				})
			}
			eventually.Eventually(t, 10*time.Second, func() error {
				if got := testutil.ToFloat64(h.rec.metrics.unownedReleases); got != wantOrphans {
					return fmt.Errorf("unowned_releases = %v, want %v", got, wantOrphans)
				}
				return nil
			})
			if n := len(h.revisions("sdp-orphan")); uninstall && n != 0 || !uninstall && n != 1 {
				t.Errorf("unowned release with no entry: %d revisions left", n)
			}
			if n := len(h.revisions("not-sdp")); n != 1 {
				t.Errorf("release outside the prefix: %d revisions left, want 1", n)
			}
			if n := strings.Count(logs.String(), `"release":"not-sdp"`); n != 1 {
				t.Errorf("release outside the prefix reported %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

func TestRecoversPendingRelease(t *testing.T) {
	for _, status := range []release.Status{release.StatusPendingInstall, release.StatusPendingUpgrade, release.StatusPendingRollback} {
		t.Run(string(status), func(t *testing.T) {
			srv := etcdtest.Start(t)
			h := newHarness(t, srv, nil)
			digest := plan.Digest(configdb.Deployment{Chart: "cm", Values: map[string]any{}})
			stuck := &release.Release{Name: "sdp-stuck", Namespace: ns, Version: 1, Chart: testCharts["cm"],
				Info: &release.Info{Status: status}, Labels: plan.Labels(digest)}
			if err := h.helm.Create(stuck); err != nil {
				t.Fatal(err)
			}
			h.put("stuck", entryJSON("stuck", "cm", "{}"))
			h.start()
			h.waitState("stuck", deployed(2))
			rels := h.revisions("sdp-stuck")
			if len(rels) != 2 || rels[0].Info.Status != release.StatusFailed && rels[0].Info.Status != release.StatusSuperseded {
				t.Errorf("history after recovery: %d revisions, first %s", len(rels), rels[0].Info.Status)
			}
		})
	}
}

func TestConcurrentDeployments(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, srv, nil)
	h.start()
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("c%d", i)
			h.put(id, entryJSON(id, "cm", fmt.Sprintf(`{"replicas": %d}`, i)))
		}()
	}
	wg.Wait()
	for i := range n {
		h.waitState(fmt.Sprintf("c%d", i), deployed(1))
	}
}

// Entries of another kind get no state entry and no release, so the log
// is the only place that says they were seen and left alone (a kind
// written "Helm" would otherwise vanish without a word).
func TestOtherKindsLogged(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, srv, nil)
	var logs logtest.Buffer
	h.rec.cfg.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	tests := []struct {
		id, kind string
		atStart  bool // listed at start, or seen through the watch
	}{
		{"listed", "slurm", true},
		{"watched", "Helm", false},
	}
	for _, tt := range tests {
		if tt.atStart {
			h.put(tt.id, fmt.Sprintf(`{"key": %q, "kind": %q, "args": {"chart": "cm"}}`, tt.id, tt.kind))
		}
	}
	h.start()
	for _, tt := range tests {
		if !tt.atStart {
			h.put(tt.id, fmt.Sprintf(`{"key": %q, "kind": %q, "args": {"chart": "cm"}}`, tt.id, tt.kind))
		}
	}
	h.put("good", entryJSON("good", "cm", "{}"))
	h.waitState("good", deployed(1))
	for _, tt := range tests {
		want := fmt.Sprintf(`"msg":"deployment entry left to other deployers: not of kind helm","deployment":%q,"kind":%q`, tt.id, tt.kind)
		eventually.Eventually(t, 5*time.Second, func() error {
			if !strings.Contains(logs.String(), want) {
				return fmt.Errorf("%s: no log line %s in:\n%s", tt.id, want, logs.String())
			}
			return nil
		})
		if _, found, err := h.getState(tt.id); err != nil || found {
			t.Errorf("%s: state entry written for another deployer's entry (%v)", tt.id, err)
		}
		if n := len(h.revisions("sdp-" + tt.id)); n != 0 {
			t.Errorf("%s: %d release revisions for another deployer's entry", tt.id, n)
		}
	}
}
