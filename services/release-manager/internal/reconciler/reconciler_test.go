package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/charts"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/logtest"
)

// Fast tests of the reconciler: a real etcd, Helm's in-memory release
// storage and fake kube client, and charts built in memory. The same
// behaviour against a real API server and chart repository is in the
// integration tests.

type memCharts map[string]*chart.Chart

func (m memCharts) Fetch(ctx context.Context, ref, version string) (charts.Loaded, error) {
	ch, err := m.Load(ctx, ref, version)
	return charts.Loaded{Chart: ch}, err
}

func (m memCharts) Load(_ context.Context, ref, version string) (*chart.Chart, error) {
	c, ok := m[ref]
	if !ok {
		return nil, fmt.Errorf("%w: no chart %q", charts.ErrNotFound, ref)
	}
	copied := *c
	return &copied, nil
}

func testChart(name string, templates map[string]string) *chart.Chart {
	c := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: name, Version: "1.2.3"}, Values: map[string]any{"replicas": 1}}
	for n, body := range templates {
		c.Templates = append(c.Templates, &chart.File{Name: "templates/" + n, Data: []byte(body)})
	}
	return c
}

// storageIndex answers the index's questions from Helm's storage itself.
type storageIndex struct{ store *storage.Storage }

func (s storageIndex) Latest(name string) (plan.Observed, bool) {
	rel, err := s.store.Last(name)
	if err != nil {
		return plan.Observed{}, false
	}
	return plan.ObservedFrom(rel), true
}

func (s storageIndex) Names() []string {
	rels, _ := s.store.ListReleases()
	var names []string
	for _, r := range rels {
		names = append(names, r.Name)
	}
	return names
}

func (s storageIndex) CountByStatus() map[string]int {
	counts := map[string]int{}
	for _, n := range s.Names() {
		if o, ok := s.Latest(n); ok && o.Owned {
			counts[string(o.Status)]++
		}
	}
	return counts
}

type harness struct {
	t      *testing.T
	store  *configdb.Store
	helm   *storage.Storage
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	rec    *Reconciler
}

const ns = "sdp"

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeRoot)
	return m
}

var testCharts = memCharts{
	"cm":      testChart("cm", map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n"}),
	"cluster": testChart("cluster", map[string]string{"cr.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {{ .Release.Name }}\n"}),
}

func newHarness(t *testing.T, srv *etcdtest.Server, helmStore *storage.Storage) *harness {
	t.Helper()
	store, err := configdb.NewStore(srv.Client(t), "/rm")
	if err != nil {
		t.Fatal(err)
	}
	if helmStore == nil {
		mem := driver.NewMemory()
		mem.SetNamespace(ns)
		helmStore = storage.Init(mem)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runner := helmexec.NewWith(ns, &kubefake.PrintingKubeClient{Out: io.Discard}, helmStore, chartutil.DefaultCapabilities.Copy(), log)
	h := &harness{t: t, store: store, helm: helmStore, reg: prometheus.NewRegistry()}
	idx := storageIndex{helmStore}
	h.rec = New(Config{
		Store: store, Helm: runner, Charts: testCharts, Index: storageIndex{helmStore},
		Confine: confine.Confiner{Namespace: ns, Mapper: testMapper()},
		Prefix:  "sdp", Timeout: time.Minute, Options: Options{Workers: 4, MaxAttempts: 3}, Log: log,
	}, NewMetrics(h.reg, idx.CountByStatus), h.reg)
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.rec.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.cancel = nil
}

func (h *harness) put(id, body string) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.store.Client().Put(ctx, h.store.Layout().DeploymentKey(id), body); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) del(id string) {
	h.t.Helper()
	if _, err := h.store.Client().Delete(context.Background(), h.store.Layout().DeploymentKey(id)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) waitState(what string, cond func(st configdb.DeploymentState, found bool) bool) configdb.DeploymentState {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var st configdb.DeploymentState
	var found bool
	for time.Now().Before(deadline) {
		var err error
		st, found, err = h.getState(what)
		if err == nil && cond(st, found) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for state of %s; last: found %v %+v %+v", what, found, st, st.Release)
	return st
}

func (h *harness) getState(id string) (configdb.DeploymentState, bool, error) {
	return h.store.GetState(context.Background(), id)
}

func (h *harness) revisions(name string) []*release.Release {
	rels, err := h.helm.History(name)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		h.t.Fatal(err)
	}
	return rels
}

func entryJSON(id, chartName, values string) string {
	return fmt.Sprintf(`{"key": %q, "kind": "helm", "args": {"chart": %q, "values": %s}}`, id, chartName, values)
}

func deployed(rev int) func(configdb.DeploymentState, bool) bool {
	return func(st configdb.DeploymentState, _ bool) bool {
		return st.Release != nil && st.Release.Status == "deployed" && st.Release.Revision == rev && st.Release.Error == ""
	}
}

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
	deadline := time.Now().Add(10 * time.Second)
	for len(h.revisions("sdp-before")) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(h.revisions("sdp-before")); n != 0 {
		t.Errorf("release still has %d revisions after its entry was deleted", n)
	}

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
				deadline := time.Now().Add(10 * time.Second)
				for len(h.revisions("sdp-orphan")) > 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for testutil.ToFloat64(h.rec.metrics.unownedReleases) != wantOrphans && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := testutil.ToFloat64(h.rec.metrics.unownedReleases); got != wantOrphans {
				t.Errorf("unowned_releases = %v, want %v", got, wantOrphans)
			}
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
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(logs.String(), want) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(logs.String(), want) {
			t.Errorf("%s: no log line %s in:\n%s", tt.id, want, logs.String())
		}
		if _, found, err := h.getState(tt.id); err != nil || found {
			t.Errorf("%s: state entry written for another deployer's entry (%v)", tt.id, err)
		}
		if n := len(h.revisions("sdp-" + tt.id)); n != 0 {
			t.Errorf("%s: %d release revisions for another deployer's entry", tt.id, n)
		}
	}
}
