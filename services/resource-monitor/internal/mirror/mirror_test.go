package mirror

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// Fast tests of the mirror on a real etcd, with the NAD cache replaced by
// a list; the API server side is in internal/app's tests.

type fakeNADs struct {
	mu   sync.Mutex
	nads []nadcache.NAD
	not  []nadcache.NAD
}

func (f *fakeNADs) List() []nadcache.NAD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]nadcache.NAD(nil), f.nads...)
}

// NotSelected: the fake holds only selected NADs (see notselected_test.go
// for those it does not).
func (f *fakeNADs) NotSelected() []nadcache.NAD {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]nadcache.NAD(nil), f.not...)
}

func (f *fakeNADs) set(nads ...nadcache.NAD) {
	f.mu.Lock()
	f.nads = nads
	f.mu.Unlock()
}

func nad(name, rv, config string) nadcache.NAD {
	return nadcache.NAD{Namespace: "ns", Name: name, ResourceVersion: rv, Supernet: "sn", Config: config, HasConfig: true}
}

const cfgA = `{"type": "macvlan", "ipam": {"type": "host-local", "subnet": "10.1.1.0/24"}}`

var (
	entryA = configdb.NetworkResource{Namespace: "ns", Name: "a", CNIType: "macvlan", Subnet: "10.1.1.0/24", Supernet: "sn"}
	snA    = configdb.SupernetResource{Name: "sn", CIDR: "10.1.1.0/24", Members: []string{"ns/a"}}
)

type fixture struct {
	t     *testing.T
	store *configdb.Store
	nads  *fakeNADs
	m     *Mirror
	reg   *prometheus.Registry
}

func start(t *testing.T, nads ...nadcache.NAD) *fixture {
	t.Helper()
	srv := etcdtest.Start(t)
	_, store := srv.Store(t)
	f := &fixture{t: t, store: store, nads: &fakeNADs{}, reg: prometheus.NewRegistry()}
	f.nads.set(nads...)
	return f
}

func (f *fixture) run(resync time.Duration) {
	f.t.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	f.m = New(Config{Store: f.store, NADs: f.nads, Log: log, Resync: resync, Timeout: 5 * time.Second}, NewMetrics(f.reg), f.reg)
	servicetest.RunLead(f.t, context.Background(), f.m.Run)
}

func (f *fixture) waitEntries(what string, want ...configdb.Resource) {
	f.t.Helper()
	wantMap := map[string]configdb.Resource{}
	for _, r := range want {
		wantMap[r.ID()] = r
	}
	var got configdb.ResourceList
	eventually.Eventually(f.t, 10*time.Second, func() error {
		var err error
		got, err = f.store.ListResources(context.Background())
		if err == nil && len(got.Undecodable) == 0 && reflect.DeepEqual(got.Resources, wantMap) {
			return nil
		}
		return fmt.Errorf("%s: got %v (undecodable %v, %v), want %v", what, got.Resources, got.Undecodable, err, wantMap)
	})
}

// Between resyncs the mirror trusts its view; at a resync it repairs what
// was changed in the config DB behind its back.
func TestResyncRepairsDrift(t *testing.T) {
	f := start(t, nad("a", "1", cfgA))
	f.run(50 * time.Millisecond)
	f.waitEntries("start", entryA, snA)
	ctx := context.Background()
	if _, err := f.store.DeleteResource(ctx, entryA.ID()); err != nil {
		t.Fatal(err)
	}
	wrong := snA
	wrong.CIDR = "10.0.0.0/8"
	if _, err := f.store.PutResource(ctx, wrong); err != nil {
		t.Fatal(err)
	}
	stray := configdb.SupernetResource{Name: "stray", CIDR: "10.9.0.0/16", Members: []string{"x/y"}}
	if _, err := f.store.PutResource(ctx, stray); err != nil {
		t.Fatal(err)
	}
	f.waitEntries("repaired at a resync", entryA, snA)
}

// An owned entry whose value does not decode is rewritten when a NAD backs
// it.
func TestUndecodableEntryRewritten(t *testing.T) {
	f := start(t, nad("a", "1", cfgA))
	client := f.store.Client()
	if _, err := client.Put(context.Background(), f.store.Layout().Key(configdb.ResourcePath(entryA.ID())), `{"subnet": 5`); err != nil {
		t.Fatal(err)
	}
	f.run(0)
	f.waitEntries("rewritten", entryA, snA)
}

// A bad config is parsed, counted and logged once per version of the NAD,
// however many reconciles see it; a new version counts again.
func TestParseErrorOncePerVersion(t *testing.T) {
	f := start(t, nad("a", "1", cfgA), nad("bad", "1", `{"type":`))
	f.run(0)
	f.waitEntries("start", entryA, snA)
	h := f.m.EventHandler()
	for range 5 {
		h.OnUpdate(nil, nil)
	}
	b := configdb.NetworkResource{Namespace: "ns", Name: "b", CNIType: "macvlan", Subnet: "10.1.2.0/24", Supernet: "sn"}
	f.nads.set(nad("a", "1", cfgA), nad("bad", "1", `{"type":`),
		nad("b", "1", `{"type": "macvlan", "ipam": {"type": "host-local", "subnet": "10.1.2.0/24"}}`))
	h.OnAdd(nil, false)
	f.waitEntries("b added", entryA, b, configdb.SupernetResource{Name: "sn", CIDR: "10.1.0.0/22", Members: []string{"ns/a", "ns/b"}})
	if got := testutil.ToFloat64(f.m.metrics.parseErrors.WithLabelValues("invalid-json")); got != 1 {
		t.Errorf("parse errors %v after several reconciles of one version, want 1", got)
	}
	f.nads.set(nad("a", "1", cfgA), nad("bad", "2", `{"type": "macvlan"}`))
	h.OnUpdate(nil, nil)
	f.waitEntries("b gone", entryA, snA)
	if got := testutil.ToFloat64(f.m.metrics.parseErrors.WithLabelValues("no-subnet")); got != 1 {
		t.Errorf("no-subnet %v after a new version, want 1", got)
	}
	if got := testutil.ToFloat64(f.m.metrics.nadsRejected); got != 1 {
		t.Errorf("nads_rejected %v, want 1", got)
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMetrics(reg)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
