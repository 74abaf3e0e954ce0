package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/health"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/nadtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// Integration tests against the local control plane's API server, with
// the NAD CRD from deploy/ installed, and a real etcd as config DB.

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

var nsCounter atomic.Int32

type testEnv struct {
	t     testing.TB
	cfg   *rest.Config
	dyn   dynamic.Interface
	etcd  *etcdtest.Server
	store *configdb.Store
	// Two namespaces of the test's own, emptied of NADs at its end: the
	// service watches every namespace, and tests run one after another.
	ns1, ns2 string
	logs     *logBuffer
	reg      *prometheus.Registry
	rt       *service.Runtime
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	cp := cptest.Get(t)
	return newEnvOn(t, cp.RESTConfig(), true)
}

func newEnvOn(t testing.TB, cfg *rest.Config, crd bool) *testEnv {
	t.Helper()
	if crd {
		nadtest.InstallCRD(t, cfg)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	n := nsCounter.Add(1)
	e := &testEnv{t: t, cfg: cfg, dyn: dynamic.NewForConfigOrDie(cfg), etcd: etcdtest.Start(t),
		ns1: fmt.Sprintf("rm-%d-a", n), ns2: fmt.Sprintf("rm-%d-b", n), logs: &logBuffer{}}
	for _, ns := range []string{e.ns1, e.ns2} {
		if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = e.dyn.Resource(nadcache.GVR).Namespace(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
		})
	}
	store, err := configdb.NewStore(e.etcd.Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	return e
}

// process builds a resource-monitor as its main does, and returns the
// function that runs a term of leadership. The process ends with the test.
func (e *testEnv) process() func(ctx context.Context) error {
	e.t.Helper()
	var w io.Writer = e.logs
	if testing.Verbose() {
		w = io.MultiWriter(e.logs, os.Stderr)
	}
	log := slog.New(slog.NewJSONHandler(w, nil))
	e.reg = prometheus.NewRegistry()
	store, err := configdb.NewStore(e.etcd.Client(e.t), "")
	if err != nil {
		e.t.Fatal(err)
	}
	e.rt = &service.Runtime{Name: "resource-monitor", Env: settings.Default(), Log: log, Client: store.Client(), Store: store,
		Registry: e.reg, Health: health.New("127.0.0.1:0", e.reg, log)}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	e.rt.SetContext(ctx)
	lead, err := New(e.rt, e.cfg, Options{DBResync: time.Minute, DBTimeout: 2 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	return lead
}

// term runs lead until the returned stop is called (or the test ends).
func (e *testEnv) term(lead func(ctx context.Context) error) (stop func()) {
	return servicetest.RunLead(e.t, context.Background(), lead)
}

// start runs a new resource-monitor process as leader until the returned
// stop is called (or the test ends); a second start is a restart.
func (e *testEnv) start() (stop func()) {
	e.t.Helper()
	return e.term(e.process())
}

func (e *testEnv) create(ns, name string, labels map[string]string, config string) {
	e.t.Helper()
	if _, err := e.dyn.Resource(nadcache.GVR).Namespace(ns).Create(context.Background(), nadtest.NAD(ns, name, labels, config), metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) update(ns, name string, change func(u *unstructured.Unstructured)) {
	e.t.Helper()
	ri := e.dyn.Resource(nadcache.GVR).Namespace(ns)
	u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	change(u)
	if _, err := ri.Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) setConfig(ns, name, config string) {
	e.t.Helper()
	e.update(ns, name, func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedField(u.Object, config, "spec", "config"); err != nil {
			e.t.Fatal(err)
		}
	})
}

func (e *testEnv) delete(ns, name string) {
	e.t.Helper()
	if err := e.dyn.Resource(nadcache.GVR).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// waitEntries waits until the owned entries are exactly want.
func (e *testEnv) waitEntries(what string, want map[string]configdb.Resource) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got configdb.ResourceList
	for time.Now().Before(deadline) {
		var err error
		got, err = e.store.ListResources(context.Background())
		if err == nil && len(got.Undecodable) == 0 && reflect.DeepEqual(got.Resources, want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("%s: timed out\n got %s\nwant %s", what, show(got.Resources), show(want))
}

func show(m map[string]configdb.Resource) string {
	var b strings.Builder
	for id, r := range m {
		fmt.Fprintf(&b, "\n  %s: %+v", id, r)
	}
	return b.String()
}

// modRevisions reads the mod revision of every entry under /resource/,
// owned or not.
func (e *testEnv) modRevisions() map[string]int64 {
	e.t.Helper()
	resp, err := e.store.Client().Get(context.Background(), e.store.Layout().ResourcesPrefix(), clientv3.WithPrefix())
	if err != nil {
		e.t.Fatal(err)
	}
	revs := map[string]int64{}
	for _, kv := range resp.Kvs {
		revs[string(kv.Key)] = kv.ModRevision
	}
	return revs
}

func (e *testEnv) waitLog(what string, parts ...string) {
	e.t.Helper()
	e.waitLogCount(what, 1, parts...)
}

// waitLogCount waits for n log lines that each hold all of parts.
func (e *testEnv) waitLogCount(what string, n int, parts ...string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		found := 0
		for _, line := range strings.Split(e.logs.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				found++
			}
		}
		if found >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("fewer than %d log lines for %s with %q; logs:\n%s", n, what, parts, e.logs.String())
}

func (e *testEnv) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	e.t.Fatalf("no metric %s%v", name, labels)
	return 0
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func whereabouts(subnet, start, end, gateway string, exclude ...string) string {
	ex := `[]`
	if len(exclude) > 0 {
		ex = `["` + strings.Join(exclude, `", "`) + `"]`
	}
	return fmt.Sprintf(`{"cniVersion": "0.3.1", "type": "macvlan", "master": "eth1", "vlan": 101,
		"ipam": {"type": "whereabouts", "range": %q, "range_start": %q, "range_end": %q, "exclude": %s, "gateway": %q}}`, subnet, start, end, ex, gateway)
}

func hostLocal(subnet, start, end, gateway string) string {
	return fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "hl", "plugins": [{"type": "ipvlan", "master": "eth2",
		"ipam": {"type": "host-local", "ranges": [[{"subnet": %q, "rangeStart": %q, "rangeEnd": %q, "gateway": %q}]]}}, {"type": "tuning"}]}`,
		subnet, start, end, gateway)
}

// simple is a host-local network with just a subnet.
func simple(subnet string) string {
	return fmt.Sprintf(`{"cniVersion": "0.3.1", "type": "macvlan", "master": "eth0", "ipam": {"type": "host-local", "subnet": %q}}`, subnet)
}

func netEntry(ns, name, supernet, subnet string) configdb.NetworkResource {
	return configdb.NetworkResource{Namespace: ns, Name: name, CNIType: "macvlan", Master: "eth0", Subnet: subnet, Supernet: supernet}
}

func snEntry(name, cidr string, members ...string) configdb.SupernetResource {
	sort.Strings(members)
	return configdb.SupernetResource{Name: name, CIDR: cidr, Members: members}
}

func entries(rs ...configdb.Resource) map[string]configdb.Resource {
	m := map[string]configdb.Resource{}
	for _, r := range rs {
		m[r.ID()] = r
	}
	return m
}

// Whereabouts and host-local NADs in two namespaces under one supernet; a
// NAD without a supernet label is a supernet of its own; unlabelled NADs
// and NADs labelled otherwise are ignored.
func TestTwoNamespacesOneSupernet(t *testing.T) {
	e := newEnv(t)
	e.start()
	vlan := 101
	e.create(e.ns1, "vis-a", nadtest.Labels("vis"), whereabouts("10.50.1.0/24", "10.50.1.10", "10.50.1.200", "10.50.1.1", "10.50.1.100/32"))
	e.create(e.ns2, "vis-b", nadtest.Labels("vis"), hostLocal("10.50.2.0/24", "10.50.2.10", "10.50.2.100", "10.50.2.1"))
	e.create(e.ns1, "solo", nadtest.Labels(""), simple("172.16.4.0/22"))
	e.create(e.ns1, "unlabelled", map[string]string{nadcache.LabelSupernet: "vis"}, simple("10.50.9.0/24"))
	e.create(e.ns2, "not-available", map[string]string{nadcache.LabelAvailable: "false", nadcache.LabelSupernet: "vis"}, simple("10.50.8.0/24"))
	e.waitEntries("two namespaces, one supernet", entries(
		configdb.NetworkResource{Namespace: e.ns1, Name: "vis-a", CNIType: "macvlan", Master: "eth1", VLAN: &vlan, Subnet: "10.50.1.0/24",
			RangeStart: "10.50.1.10", RangeEnd: "10.50.1.200", Excludes: []string{"10.50.1.100/32"}, Gateway: "10.50.1.1", Supernet: "vis"},
		configdb.NetworkResource{Namespace: e.ns2, Name: "vis-b", CNIType: "ipvlan", Master: "eth2", Subnet: "10.50.2.0/24",
			RangeStart: "10.50.2.10", RangeEnd: "10.50.2.100", Gateway: "10.50.2.1", Supernet: "vis"},
		snEntry("vis", "10.50.0.0/22", e.ns1+"/vis-a", e.ns2+"/vis-b"),
		netEntry(e.ns1, "solo", "solo", "172.16.4.0/22"),
		snEntry("solo", "172.16.4.0/22", e.ns1+"/solo"),
	))
	if got := e.metric("sdp_helmdeploy_resource_monitor_nads_mirrored"); got != 3 {
		t.Errorf("nads_mirrored %v, want 3", got)
	}
	if got := e.metric("sdp_helmdeploy_resource_monitor_supernets_mirrored"); got != 2 {
		t.Errorf("supernets_mirrored %v, want 2", got)
	}
	if got := e.metric("sdp_helmdeploy_resource_monitor_writes_total", "kind", "network", "op", "put"); got != 3 {
		t.Errorf("network puts %v, want 3", got)
	}
	if problems, err := testutil.GatherAndLint(e.reg); err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

// Bad configs get no entry, a log line naming the NAD and the reason, and
// a metric; the others go on. A NAD whose config breaks loses its entry;
// one that is fixed gets it.
func TestBrokenConfigs(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.create(e.ns1, "good", nadtest.Labels("sn"), simple("10.70.1.0/24"))
	e.create(e.ns1, "not-json", nadtest.Labels("sn"), `{"type": "macvlan", "ipam": {`)
	e.create(e.ns1, "dhcp", nadtest.Labels("sn"), `{"type": "macvlan", "ipam": {"type": "dhcp"}}`)
	e.create(e.ns2, "no-ipam", nadtest.Labels("sn"), `{"cniVersion": "0.3.1", "name": "x", "plugins": [{"type": "macvlan"}]}`)
	e.create(e.ns2, "bad-range", nadtest.Labels("sn"), whereabouts("10.70.2.0/24", "10.70.3.1", "", ""))
	e.create(e.ns2, "empty", nadtest.Labels("sn"), "")
	// Members of both families: no CIDR covers them.
	e.create(e.ns2, "v4", nadtest.Labels("mixed"), simple("10.70.9.0/24"))
	e.create(e.ns2, "v6", nadtest.Labels("mixed"), simple("fd00:70::/64"))
	e.waitEntries("only the usable NADs", entries(
		netEntry(e.ns1, "good", "sn", "10.70.1.0/24"), snEntry("sn", "10.70.1.0/24", e.ns1+"/good"),
		netEntry(e.ns2, "v4", "mixed", "10.70.9.0/24"), netEntry(e.ns2, "v6", "mixed", "fd00:70::/64"),
	))
	for _, c := range []struct{ ns, name, reason string }{
		{e.ns1, "not-json", "invalid-json"}, {e.ns1, "dhcp", "no-subnet"}, {e.ns2, "no-ipam", "no-subnet"},
		{e.ns2, "bad-range", "invalid-config"}, {e.ns2, "empty", "invalid-json"},
	} {
		e.waitLog(c.name, `"msg":"NAD config unusable; the NAD gets no resource entry"`, `"namespace":"`+c.ns+`"`, `"nad":"`+c.name+`"`, `"reason":"`+c.reason+`"`)
	}
	e.waitLog("mixed supernet", `"msg":"supernet has no covering CIDR`, `"supernet":"mixed"`)
	for reason, want := range map[string]float64{"invalid-json": 2, "no-subnet": 2, "invalid-config": 1} {
		if got := e.metric("sdp_helmdeploy_resource_monitor_parse_errors_total", "reason", reason); got != want {
			t.Errorf("parse errors %s: %v, want %v", reason, got, want)
		}
	}
	if got := e.metric("sdp_helmdeploy_resource_monitor_nads_rejected"); got != 5 {
		t.Errorf("nads_rejected %v, want 5", got)
	}
	if got := e.metric("sdp_helmdeploy_resource_monitor_supernets_rejected"); got != 1 {
		t.Errorf("supernets_rejected %v, want 1", got)
	}

	// Fixed: its entry appears. Broken: the good one's goes.
	e.setConfig(e.ns1, "not-json", simple("10.70.4.0/24"))
	e.setConfig(e.ns1, "good", `{"type": "macvlan"`)
	e.delete(e.ns2, "v6")
	e.waitEntries("fixed and broken", entries(
		netEntry(e.ns1, "not-json", "sn", "10.70.4.0/24"), snEntry("sn", "10.70.4.0/24", e.ns1+"/not-json"),
		netEntry(e.ns2, "v4", "mixed", "10.70.9.0/24"), snEntry("mixed", "10.70.9.0/24", e.ns2+"/v4"),
	))
	e.waitLog("fixed", `"msg":"NAD config usable again"`, `"nad":"not-json"`)
	if got := e.metric("sdp_helmdeploy_resource_monitor_parse_errors_total", "reason", "invalid-json"); got != 3 {
		t.Errorf("invalid-json after breaking good: %v, want 3", got)
	}
}

// Relabelling, deletion, and a supernet's CIDR growing and shrinking with
// its members.
func TestRelabelDeleteGrowShrink(t *testing.T) {
	e := newEnv(t)
	e.start()
	a, b := e.ns1+"/a", e.ns2+"/b"
	e.create(e.ns1, "a", nadtest.Labels("x"), simple("10.60.1.0/24"))
	e.create(e.ns2, "b", nadtest.Labels("x"), simple("10.60.2.0/24"))
	e.waitEntries("two members", entries(netEntry(e.ns1, "a", "x", "10.60.1.0/24"), netEntry(e.ns2, "b", "x", "10.60.2.0/24"),
		snEntry("x", "10.60.0.0/22", a, b)))

	e.create(e.ns1, "c", nadtest.Labels("x"), simple("10.60.8.0/24"))
	e.waitEntries("grown", entries(netEntry(e.ns1, "a", "x", "10.60.1.0/24"), netEntry(e.ns2, "b", "x", "10.60.2.0/24"),
		netEntry(e.ns1, "c", "x", "10.60.8.0/24"), snEntry("x", "10.60.0.0/20", a, b, e.ns1+"/c")))

	e.update(e.ns1, "c", func(u *unstructured.Unstructured) { u.SetLabels(nadtest.Labels("y")) })
	e.waitEntries("relabelled to another supernet: x shrinks", entries(netEntry(e.ns1, "a", "x", "10.60.1.0/24"), netEntry(e.ns2, "b", "x", "10.60.2.0/24"),
		snEntry("x", "10.60.0.0/22", a, b), netEntry(e.ns1, "c", "y", "10.60.8.0/24"), snEntry("y", "10.60.8.0/24", e.ns1+"/c")))

	e.update(e.ns2, "b", func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{nadcache.LabelSupernet: "x"}) })
	e.waitEntries("unlabelled", entries(netEntry(e.ns1, "a", "x", "10.60.1.0/24"), snEntry("x", "10.60.1.0/24", a),
		netEntry(e.ns1, "c", "y", "10.60.8.0/24"), snEntry("y", "10.60.8.0/24", e.ns1+"/c")))

	e.update(e.ns2, "b", func(u *unstructured.Unstructured) { u.SetLabels(nadtest.Labels("x")) })
	e.setConfig(e.ns1, "c", simple("10.60.128.0/17"))
	e.waitEntries("labelled again; a member's subnet changed", entries(netEntry(e.ns1, "a", "x", "10.60.1.0/24"), netEntry(e.ns2, "b", "x", "10.60.2.0/24"),
		snEntry("x", "10.60.0.0/22", a, b), netEntry(e.ns1, "c", "y", "10.60.128.0/17"), snEntry("y", "10.60.128.0/17", e.ns1+"/c")))

	e.delete(e.ns1, "a")
	e.update(e.ns1, "c", func(u *unstructured.Unstructured) { u.SetLabels(nadtest.Labels("")) })
	e.waitEntries("deleted; supernet label removed", entries(netEntry(e.ns2, "b", "x", "10.60.2.0/24"), snEntry("x", "10.60.2.0/24", b),
		netEntry(e.ns1, "c", "c", "10.60.128.0/17"), snEntry("c", "10.60.128.0/17", e.ns1+"/c")))

	e.delete(e.ns2, "b")
	e.delete(e.ns1, "c")
	e.waitEntries("all gone", entries())
	if got := e.metric("sdp_helmdeploy_resource_monitor_writes_total", "kind", "supernet", "op", "delete"); got != 3 {
		t.Errorf("supernet deletes %v, want 3 (y, x, c)", got)
	}
}

// Entries are written only when they change: a NAD update that changes no
// entry writes nothing, nor does a restart with nothing changed.
func TestWrittenOnlyWhenChanged(t *testing.T) {
	e := newEnv(t)
	stop := e.start()
	e.create(e.ns1, "a", nadtest.Labels("w"), simple("10.80.1.0/24"))
	e.create(e.ns1, "b", nadtest.Labels(""), simple("10.80.2.0/24"))
	e.waitEntries("start", entries(netEntry(e.ns1, "a", "w", "10.80.1.0/24"), snEntry("w", "10.80.1.0/24", e.ns1+"/a"),
		netEntry(e.ns1, "b", "b", "10.80.2.0/24"), snEntry("b", "10.80.2.0/24", e.ns1+"/b")))
	before := e.modRevisions()
	// An annotation, and a config that reads the same (other formatting, an
	// extra field the entry does not hold).
	e.update(e.ns1, "a", func(u *unstructured.Unstructured) { u.SetAnnotations(map[string]string{"note": "x"}) })
	e.setConfig(e.ns1, "a", `{"type":"macvlan","master":"eth0","mtu":9000,"ipam":{"type":"host-local","subnet":"10.80.1.0/24"}}`)
	// Then a real change, after which the ones before have been handled.
	e.setConfig(e.ns1, "b", simple("10.80.3.0/24"))
	e.waitEntries("b changed", entries(netEntry(e.ns1, "a", "w", "10.80.1.0/24"), snEntry("w", "10.80.1.0/24", e.ns1+"/a"),
		netEntry(e.ns1, "b", "b", "10.80.3.0/24"), snEntry("b", "10.80.3.0/24", e.ns1+"/b")))
	after := e.modRevisions()
	for _, id := range []string{configdb.NetworkResourceID(e.ns1, "a"), configdb.SupernetResourceID("w")} {
		k := e.store.Layout().Key(configdb.ResourcePath(id))
		if before[k] != after[k] {
			t.Errorf("%s rewritten without a change (mod revision %d → %d)", id, before[k], after[k])
		}
	}
	stop()
	rev := e.modRevisions()
	stop = e.start()
	e.waitLogCount("second process in sync", 2, `"msg":"resource entries in sync"`)
	e.setConfig(e.ns1, "b", simple("10.80.2.0/24"))
	e.waitEntries("b back", entries(netEntry(e.ns1, "a", "w", "10.80.1.0/24"), snEntry("w", "10.80.1.0/24", e.ns1+"/a"),
		netEntry(e.ns1, "b", "b", "10.80.2.0/24"), snEntry("b", "10.80.2.0/24", e.ns1+"/b")))
	now := e.modRevisions()
	for _, id := range []string{configdb.NetworkResourceID(e.ns1, "a"), configdb.SupernetResourceID("w")} {
		k := e.store.Layout().Key(configdb.ResourcePath(id))
		if rev[k] != now[k] {
			t.Errorf("%s rewritten by a restart without a change", id)
		}
	}
	stop()
}

// At start, owned entries that no NAD backs go, and so do changes missed
// while the service was down; nothing else under /resource/ is touched.
func TestRestartCleansUpStaleEntries(t *testing.T) {
	e := newEnv(t)
	stop := e.start()
	e.create(e.ns1, "a", nadtest.Labels("r"), simple("10.90.1.0/24"))
	e.create(e.ns2, "b", nadtest.Labels("r"), simple("10.90.2.0/24"))
	e.waitEntries("start", entries(netEntry(e.ns1, "a", "r", "10.90.1.0/24"), netEntry(e.ns2, "b", "r", "10.90.2.0/24"),
		snEntry("r", "10.90.0.0/22", e.ns1+"/a", e.ns2+"/b")))
	stop()

	// While it is down: a NAD goes, one changes, and others leave entries
	// behind.
	ctx := context.Background()
	e.delete(e.ns2, "b")
	e.setConfig(e.ns1, "a", simple("10.90.4.0/24"))
	for _, r := range []configdb.Resource{
		netEntry("gone-ns", "gone", "old", "10.1.0.0/24"),
		snEntry("old", "10.1.0.0/24", "gone-ns/gone"),
	} {
		if _, err := e.store.PutResource(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	client := e.store.Client()
	key := func(id string) string { return e.store.Layout().Key(configdb.ResourcePath(id)) }
	foreign := map[string]string{
		key("receive-addresses:pb-1"): `{"owner": "someone else"}`,
		key("supernetwork:x"):         `{}`,
		key("network:x"):              `not even JSON`,
	}
	for k, v := range foreign {
		if _, err := client.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	// An owned entry that does not decode.
	if _, err := client.Put(ctx, key(configdb.SupernetResourceID("garbage")), `{"members": "not a list"`); err != nil {
		t.Fatal(err)
	}
	revs := e.modRevisions()

	e.start()
	e.waitEntries("after restart", entries(netEntry(e.ns1, "a", "r", "10.90.4.0/24"), snEntry("r", "10.90.4.0/24", e.ns1+"/a")))
	now := e.modRevisions()
	for k, v := range foreign {
		resp, err := client.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != v || now[k] != revs[k] {
			t.Errorf("foreign entry %s touched", k)
		}
	}
	e.waitLog("undecodable entry", `"msg":"owned resource entry does not decode; it will be rewritten or removed"`, `"entry":"supernet:garbage"`)
}

// The config DB goes away for a while: NAD changes meanwhile are mirrored
// once it is back, and nothing crashes.
func TestConfigDBAway(t *testing.T) {
	e := newEnv(t)
	e.start()
	e.create(e.ns1, "a", nadtest.Labels("e"), simple("10.91.1.0/24"))
	e.waitEntries("start", entries(netEntry(e.ns1, "a", "e", "10.91.1.0/24"), snEntry("e", "10.91.1.0/24", e.ns1+"/a")))
	e.etcd.Stop()
	e.create(e.ns1, "b", nadtest.Labels("e"), simple("10.91.2.0/24"))
	e.delete(e.ns1, "a")
	e.waitLog("failed write", `"msg":"reconcile failed; retrying"`)
	e.etcd.Restart()
	e.waitEntries("after etcd came back", entries(netEntry(e.ns1, "b", "e", "10.91.2.0/24"), snEntry("e", "10.91.2.0/24", e.ns1+"/b")))
	if got := e.metric("sdp_helmdeploy_resource_monitor_config_db_errors_total", "op", "put") +
		e.metric("sdp_helmdeploy_resource_monitor_config_db_errors_total", "op", "delete"); got == 0 {
		t.Error("no config DB errors counted")
	}
}

// Leadership lost and won again in the same process: the second term gets
// a new work queue and reads the config DB afresh.
func TestSecondTermOfLeadership(t *testing.T) {
	e := newEnv(t)
	lead := e.process()
	stop := e.term(lead)
	e.create(e.ns1, "first", nadtest.Labels("t"), simple("10.93.1.0/24"))
	e.waitEntries("first term", entries(netEntry(e.ns1, "first", "t", "10.93.1.0/24"), snEntry("t", "10.93.1.0/24", e.ns1+"/first")))
	stop()
	if got := e.metric("sdp_helmdeploy_resource_monitor_nads_mirrored"); got != 0 {
		t.Errorf("nads_mirrored %v after the term, want 0", got)
	}
	// Changed between the terms, behind the service's back too.
	e.create(e.ns1, "second", nadtest.Labels("t"), simple("10.93.2.0/24"))
	if _, err := e.store.DeleteResource(context.Background(), configdb.NetworkResourceID(e.ns1, "first")); err != nil {
		t.Fatal(err)
	}
	e.term(lead)
	e.waitEntries("second term", entries(netEntry(e.ns1, "first", "t", "10.93.1.0/24"), netEntry(e.ns1, "second", "t", "10.93.2.0/24"),
		snEntry("t", "10.93.0.0/22", e.ns1+"/first", e.ns1+"/second")))
}

// Without the NAD CRD the service is up but not ready while it leads, and
// says why; with it, it becomes ready. Then the API server stops answering
// for a while (SIGSTOP, as a hung or partitioned server looks to a
// client): the entries stay as they are, and changes are mirrored again
// once it answers.
func TestCRDMissingThenAPIServerAway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	own := cptest.Start(t, ctx, localcp.Options{})
	e := newEnvOn(t, own.RESTConfig(), false)
	e.start()
	ready := func() (int, string) {
		rec := httptest.NewRecorder()
		e.rt.Health.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	e.waitLog("CRD missing", `"msg":"cannot list NetworkAttachmentDefinitions; is their CRD installed? retrying"`)
	if code, body := ready(); code == 200 || !strings.Contains(body, "nad-informer") {
		t.Errorf("ready without the CRD: %d %s", code, body)
	}
	nadtest.InstallCRD(t, e.cfg)
	e.create(e.ns1, "a", nadtest.Labels("h"), simple("10.92.1.0/24"))
	e.waitEntries("CRD installed", entries(netEntry(e.ns1, "a", "h", "10.92.1.0/24"), snEntry("h", "10.92.1.0/24", e.ns1+"/a")))
	if code, body := ready(); code != 200 {
		t.Errorf("not ready with the CRD: %d %s", code, body)
	}

	resume := cptest.PauseAPIServer(t, own)
	time.Sleep(8 * time.Second)
	got, err := e.store.ListResources(context.Background())
	if err != nil || len(got.Resources) != 2 {
		t.Errorf("entries while the API server is away: %v %v", show(got.Resources), err)
	}
	resume()
	e.create(e.ns1, "b", nadtest.Labels("h"), simple("10.92.2.0/24"))
	e.waitEntries("after the API server came back", entries(netEntry(e.ns1, "a", "h", "10.92.1.0/24"), netEntry(e.ns1, "b", "h", "10.92.2.0/24"),
		snEntry("h", "10.92.0.0/22", e.ns1+"/a", e.ns1+"/b")))
}
