package app

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/nadtest"
)

// Integration tests against the local control plane's API server, with
// the NAD CRD from deploy/ installed, and a real etcd as config DB.

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

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
	// The gauges and counters follow the writes that made the entries: a
	// reader may see the entries a moment before them.
	eventually.Eventually(t, 10*time.Second, func() error {
		if got := e.metric("sdp_helmdeploy_resource_monitor_nads_mirrored"); got != 3 {
			return fmt.Errorf("nads_mirrored %v, want 3", got)
		}
		if got := e.metric("sdp_helmdeploy_resource_monitor_supernets_mirrored"); got != 2 {
			return fmt.Errorf("supernets_mirrored %v, want 2", got)
		}
		if got := e.metric("sdp_helmdeploy_resource_monitor_writes_total", "kind", "network", "op", "put"); got != 3 {
			return fmt.Errorf("network puts %v, want 3", got)
		}
		return nil
	})
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
	// The gauges are set once the reconcile's writes are done.
	eventually.Eventually(t, 10*time.Second, func() error {
		if got := e.metric("sdp_helmdeploy_resource_monitor_nads_rejected"); got != 5 {
			return fmt.Errorf("nads_rejected %v, want 5", got)
		}
		if got := e.metric("sdp_helmdeploy_resource_monitor_supernets_rejected"); got != 1 {
			return fmt.Errorf("supernets_rejected %v, want 1", got)
		}
		return nil
	})

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
