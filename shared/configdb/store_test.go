package configdb_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
)

type storeEnv struct {
	store  *configdb.Store
	client *clientv3.Client
	srv    *etcdserver.Server
	prefix string
}

// newStore starts an etcd for the test and a store on it with a global
// prefix, which also exercises prefix handling against the real server.
func newStore(t *testing.T) storeEnv {
	t.Helper()
	srv := etcdserver.Start(t)
	c := srv.Client(t)
	prefix := "/" + strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	s, err := configdb.NewStore(c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return storeEnv{store: s, client: c, srv: srv, prefix: prefix}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (e storeEnv) putRaw(t *testing.T, path, value string) {
	t.Helper()
	if _, err := e.client.Put(ctx(t), e.store.Layout().Key(path), value); err != nil {
		t.Fatal(err)
	}
}

func (e storeEnv) getRaw(t *testing.T, path string) (string, bool) {
	t.Helper()
	resp, err := e.client.Get(ctx(t), e.store.Layout().Key(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", false
	}
	return string(resp.Kvs[0].Value), true
}

func TestListDeploymentsSeesChildrenOnly(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	// Written the way a Python client does: raw depth-tagged keys, old and
	// new field names, another deployer's kind, and a broken entry.
	e.putRaw(t, "/deploy/a", `{"key": "a", "kind": "helm", "args": {"chart": "c"}}`)
	e.putRaw(t, "/deploy/b", `{"dpl_id": "b", "type": "helm", "args": {"chart": "c", "values": {"x.y": 1}}}`)
	e.putRaw(t, "/deploy/c", `{"key": "c", "kind": "slurm"}`)
	e.putRaw(t, "/deploy/bad", `{"key": `)
	e.putRaw(t, "/deploy/bad_id", `{"key": "bad_id", "kind": "helm", "args": {"chart": "c"}}`)
	e.putRaw(t, "/deploy/a/state", `{"pods": {}}`)
	e.putRaw(t, "/deploy/a/other/deeper", `{}`)
	e.putRaw(t, "/deployx", `{}`)
	list, err := e.store.ListDeployments(c)
	if err != nil {
		t.Fatal(err)
	}
	var ids, kinds []string
	for _, d := range list.Deployments {
		ids = append(ids, d.ID)
		kinds = append(kinds, d.Kind)
	}
	if fmt.Sprint(ids) != "[a b c]" || fmt.Sprint(kinds) != "[helm helm slurm]" {
		t.Errorf("deployments %v kinds %v", ids, kinds)
	}
	var bad []string
	for _, ee := range list.Errors {
		bad = append(bad, ee.ID)
		if !errors.Is(ee, configdb.ErrBadDeployment) {
			t.Errorf("error for %s is not ErrBadDeployment: %v", ee.ID, ee)
		}
	}
	if fmt.Sprint(bad) != "[bad bad_id]" {
		t.Errorf("errors for %v", bad)
	}
	if list.Revision == 0 {
		t.Error("no revision")
	}
	// The unprefixed layout sees none of it.
	other, _ := configdb.NewStore(e.client, "")
	if l, _ := other.ListDeployments(c); len(l.Deployments)+len(l.Errors) != 0 {
		t.Errorf("unprefixed store sees %v", l)
	}
}

func TestDeploymentCreateGetDelete(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	d := configdb.Deployment{ID: "d1", Kind: "helm", Chart: "c", Values: map[string]any{"a": map[string]any{"b": 1}}}
	if err := e.store.CreateDeployment(c, d); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateDeployment(c, d); !errors.Is(err, configdb.ErrExists) {
		t.Errorf("second create: %v", err)
	}
	raw, _ := e.getRaw(t, "/deploy/d1")
	want := "{\n  \"args\": {\n    \"chart\": \"c\",\n    \"values\": {\n      \"a\": {\n        \"b\": 1\n      }\n    }\n  },\n  \"key\": \"d1\",\n  \"kind\": \"helm\"\n}"
	if raw != want {
		t.Errorf("stored\n%s\nwant\n%s", raw, want)
	}
	got, found, err := e.store.GetDeployment(c, "d1")
	if err != nil || !found || got.Chart != "c" {
		t.Errorf("get: %+v %v %v", got, found, err)
	}
	if _, err := e.store.UpdatePods(c, "d1", func(map[string]configdb.PodStatus) map[string]configdb.PodStatus {
		return map[string]configdb.PodStatus{"p": configdb.PodRunning}
	}); err != nil {
		t.Fatal(err)
	}
	if found, err := e.store.DeleteDeployment(c, "d1"); !found || err != nil {
		t.Errorf("delete: %v %v", found, err)
	}
	if _, ok := e.getRaw(t, "/deploy/d1/state"); ok {
		t.Error("state left behind by delete")
	}
	if _, found, _ := e.store.GetDeployment(c, "d1"); found {
		t.Error("still there")
	}
	if err := e.store.CreateDeployment(c, configdb.Deployment{ID: "bad id"}); !errors.Is(err, configdb.ErrInvalidID) {
		t.Errorf("create with bad id: %v", err)
	}
}

func TestResources(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	vlan := 100
	n := configdb.NetworkResource{Namespace: "sdp", Name: "net1", CNIType: "macvlan", Master: "eth0", VLAN: &vlan,
		Subnet: "10.10.0.0/24", RangeStart: "10.10.0.10", RangeEnd: "10.10.0.100", Excludes: []string{"10.10.0.50/32"},
		Gateway: "10.10.0.1", Supernet: "sn"}
	sn := configdb.SupernetResource{Name: "sn", CIDR: "10.10.0.0/16", Members: []string{"sdp/net2", "sdp/net1"}}
	for _, r := range []configdb.Resource{n, sn} {
		if w, err := e.store.PutResource(c, r); !w || err != nil {
			t.Fatalf("put %s: %v %v", r.ID(), w, err)
		}
		if w, err := e.store.PutResource(c, r); w || err != nil {
			t.Errorf("unchanged put %s wrote: %v %v", r.ID(), w, err)
		}
	}
	raw, ok := e.getRaw(t, "/resource/network-attachment-definition:sdp:net1")
	if !ok || !strings.Contains(raw, `"vlan": 100`) || !strings.Contains(raw, `"cni_type": "macvlan"`) {
		t.Errorf("network entry: %s", raw)
	}
	raw, _ = e.getRaw(t, "/resource/supernet:sn")
	if !strings.Contains(raw, "\"members\": [\n    \"sdp/net1\",\n    \"sdp/net2\"\n  ]") {
		t.Errorf("supernet entry: %s", raw)
	}
	e.putRaw(t, "/resource/foreign-thing", `{"x": 1}`)
	e.putRaw(t, "/resource/supernet:broken", `[`)
	list, err := e.store.ListResources(c)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range list.Resources {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if fmt.Sprint(ids) != "[network-attachment-definition:sdp:net1 supernet:sn]" || fmt.Sprint(list.Undecodable) != "[supernet:broken]" {
		t.Errorf("listed %v undecodable %v", ids, list.Undecodable)
	}
	if got := list.Resources[n.ID()].(configdb.NetworkResource); *got.VLAN != 100 || got.Gateway != n.Gateway {
		t.Errorf("decoded %+v", got)
	}
	if _, err := e.store.DeleteResource(c, "foreign-thing"); err == nil {
		t.Error("deleted a foreign entry")
	}
	if d, err := e.store.DeleteResource(c, sn.ID()); !d || err != nil {
		t.Errorf("delete: %v %v", d, err)
	}
	if _, ok := e.getRaw(t, "/resource/foreign-thing"); !ok {
		t.Error("foreign entry gone")
	}
}
