// The reconciler tests' harness: a Reconciler over Helm's in-memory
// storage and a real etcd, with charts in memory and helpers to write
// entries and wait on state entries.

package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

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
	var st configdb.DeploymentState
	eventually.Eventually(h.t, 15*time.Second, func() error {
		var found bool
		var err error
		st, found, err = h.getState(what)
		if err != nil || !cond(st, found) {
			return fmt.Errorf("state of %s; last: found %v %+v %+v (error %v)", what, found, st, st.Release, err)
		}
		return nil
	})
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
