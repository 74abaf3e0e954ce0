// The app tests' environment: a resource-monitor run in-process against a
// real etcd and control plane, with helpers to write NADs and wait on
// resource entries, logs and metrics, and NAD configs to write.

package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/nadtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

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
	_, store := e.etcd.Store(t)
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
	eventually.Eventually(e.t, 20*time.Second, func() error {
		got, err := e.store.ListResources(context.Background())
		if err != nil || len(got.Undecodable) > 0 || !reflect.DeepEqual(got.Resources, want) {
			return fmt.Errorf("%s (error %v, %d undecodable)\n got %s\nwant %s", what, err, len(got.Undecodable), show(got.Resources), show(want))
		}
		return nil
	})
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
	eventually.Eventually(e.t, 20*time.Second, func() error {
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
		if found < n {
			return fmt.Errorf("fewer than %d log lines for %s with %q; logs:\n%s", n, what, parts, e.logs.String())
		}
		return nil
	})
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
