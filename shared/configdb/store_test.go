package configdb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
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

func setPods(pods map[string]configdb.PodStatus) func(map[string]configdb.PodStatus) map[string]configdb.PodStatus {
	return func(map[string]configdb.PodStatus) map[string]configdb.PodStatus { return pods }
}

func TestStateKeepsWhatItDoesNotOwn(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
	// Python-written state with the pods part as it was and parts and fields
	// this version does not know.
	golden, err := os.ReadFile("testdata/state.py.json")
	if err != nil {
		t.Fatal(err)
	}
	before := strings.Replace(string(golden), `"worker-ab12": "PENDING"`, `"worker-ab12": "UNSET"`, 1)
	e.putRaw(t, "/deploy/d/state", before)
	res, err := e.store.UpdatePods(c, "d", setPods(map[string]configdb.PodStatus{"vis-receive-0": "RUNNING", "worker-ab12": "PENDING"}))
	if err != nil || !res.Written {
		t.Fatalf("update: %+v %v", res, err)
	}
	if raw, _ := e.getRaw(t, "/deploy/d/state"); raw != string(golden) {
		t.Errorf("after pods update\n%s\nwant (as Python writes it)\n%s", raw, golden)
	}
	// The release part: known fields change, the unknown one stays.
	res, err = e.store.UpdateRelease(c, "d", func(cur configdb.ReleaseStatus, exists bool) configdb.ReleaseStatus {
		if !exists || cur.Revision != 2 || cur.Status != "deployed" {
			t.Errorf("current release %+v exists %v", cur, exists)
		}
		cur.Revision, cur.Error = 3, "boom"
		return cur
	})
	if err != nil || !res.Written {
		t.Fatalf("release update: %+v %v", res, err)
	}
	raw, _ := e.getRaw(t, "/deploy/d/state")
	for _, want := range []string{`"x_other_tool": {`, `"revision": 3`, `"error": "boom"`, `"zz_unknown": []`, `"aa_unknown": {}`, `"vis-receive-0": "RUNNING"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("state lost %s:\n%s", want, raw)
		}
	}
	// Clearing a known field removes it; nothing else moves.
	if _, err := e.store.UpdateRelease(c, "d", func(cur configdb.ReleaseStatus, _ bool) configdb.ReleaseStatus {
		cur.Error = ""
		return cur
	}); err != nil {
		t.Fatal(err)
	}
	if raw, _ := e.getRaw(t, "/deploy/d/state"); strings.Contains(raw, "error") || !strings.Contains(raw, "x_other_tool") {
		t.Errorf("after clearing error:\n%s", raw)
	}
}

func TestStateNoWriteWhenUnchanged(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
	// No pods and no entry: nothing is created.
	if res, err := e.store.UpdatePods(c, "d", setPods(nil)); err != nil || res.Written {
		t.Errorf("empty pods created state: %+v %v", res, err)
	}
	if _, ok := e.getRaw(t, "/deploy/d/state"); ok {
		t.Error("state entry created for nothing")
	}
	pods := map[string]configdb.PodStatus{"p": configdb.PodPending}
	if res, err := e.store.UpdatePods(c, "d", setPods(pods)); err != nil || !res.Written {
		t.Fatalf("first: %+v %v", res, err)
	}
	rev := mustModRev(t, e, "/deploy/d/state")
	for range 3 {
		if res, err := e.store.UpdatePods(c, "d", setPods(pods)); err != nil || res.Written {
			t.Errorf("repeat: %+v %v", res, err)
		}
	}
	if got := mustModRev(t, e, "/deploy/d/state"); got != rev {
		t.Errorf("mod revision moved from %d to %d without a change", rev, got)
	}
	// An empty map where one exists is a real change.
	if res, err := e.store.UpdatePods(c, "d", setPods(nil)); err != nil || !res.Written {
		t.Errorf("clearing: %+v %v", res, err)
	}
	if raw, _ := e.getRaw(t, "/deploy/d/state"); raw != "{\n  \"pods\": {}\n}" {
		t.Errorf("after clearing: %q", raw)
	}
}

func mustModRev(t *testing.T, e storeEnv, path string) int64 {
	t.Helper()
	resp, err := e.client.Get(ctx(t), e.store.Layout().Key(path))
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("get %s: %v", path, err)
	}
	return resp.Kvs[0].ModRevision
}

func TestStateNeverCreatedWithoutDeployment(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	_, err := e.store.UpdatePods(c, "ghost", setPods(map[string]configdb.PodStatus{"p": configdb.PodRunning}))
	if !errors.Is(err, configdb.ErrNoDeployment) {
		t.Errorf("pods for missing deployment: %v", err)
	}
	_, err = e.store.UpdateRelease(c, "ghost", func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus {
		return configdb.ReleaseStatus{Status: "deployed"}
	})
	if !errors.Is(err, configdb.ErrNoDeployment) {
		t.Errorf("release for missing deployment: %v", err)
	}
	if _, ok := e.getRaw(t, "/deploy/ghost/state"); ok {
		t.Error("state created for a missing deployment")
	}
	// Orphan state, as left by a client that deleted only the entry, is
	// removed; state of a live deployment is not.
	e.putRaw(t, "/deploy/ghost/state", `{"pods": {}}`)
	e.putRaw(t, "/deploy/live", `{"key": "live", "kind": "helm", "args": {"chart": "c"}}`)
	e.putRaw(t, "/deploy/live/state", `{"pods": {}}`)
	ids, _, err := e.store.StateIDs(c)
	if err != nil || fmt.Sprint(ids) != "[ghost live]" {
		t.Errorf("StateIDs = %v, %v", ids, err)
	}
	if deleted, err := e.store.DeleteOrphanState(c, "ghost"); !deleted || err != nil {
		t.Errorf("orphan delete: %v %v", deleted, err)
	}
	if deleted, err := e.store.DeleteOrphanState(c, "live"); deleted || err != nil {
		t.Errorf("live state deleted: %v %v", deleted, err)
	}
	if _, ok := e.getRaw(t, "/deploy/live/state"); !ok {
		t.Error("live state gone")
	}
}

func TestStateDeploymentDeletedDuringUpdate(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
	_, err := e.store.UpdatePods(c, "d", func(cur map[string]configdb.PodStatus) map[string]configdb.PodStatus {
		// The deployment goes between the read and the write.
		if _, err := e.client.Delete(c, e.store.Layout().Key("/deploy/d")); err != nil {
			t.Fatal(err)
		}
		return map[string]configdb.PodStatus{"p": configdb.PodRunning}
	})
	if !errors.Is(err, configdb.ErrNoDeployment) {
		t.Errorf("got %v", err)
	}
	if _, ok := e.getRaw(t, "/deploy/d/state"); ok {
		t.Error("state created after the deployment was deleted")
	}
}

func TestStateConcurrentWritersOfDifferentParts(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
	e.putRaw(t, "/deploy/d/state", `{"other": {"keep": 1}}`)
	const rounds = 40
	var wg sync.WaitGroup
	var conflicts [2]int
	errs := make(chan error, 2*rounds)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range rounds {
			res, err := e.store.UpdatePods(c, "d", setPods(map[string]configdb.PodStatus{fmt.Sprintf("pod-%d", i): configdb.PodRunning}))
			conflicts[0] += res.Conflicts
			if err != nil {
				errs <- err
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range rounds {
			res, err := e.store.UpdateRelease(c, "d", func(cur configdb.ReleaseStatus, _ bool) configdb.ReleaseStatus {
				cur.Revision = i + 1
				return cur
			})
			conflicts[1] += res.Conflicts
			if err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, _, err := e.store.GetState(c, "d")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pods) != 1 || st.Pods[fmt.Sprintf("pod-%d", rounds-1)] != configdb.PodRunning {
		t.Errorf("pods part lost: %v", st.Pods)
	}
	if st.Release == nil || st.Release.Revision != rounds {
		t.Errorf("release part lost: %+v", st.Release)
	}
	if raw, _ := e.getRaw(t, "/deploy/d/state"); !strings.Contains(raw, `"keep": 1`) {
		t.Errorf("unknown part lost: %s", raw)
	}
	t.Logf("conflicts retried: pods %d, release %d", conflicts[0], conflicts[1])
}

func TestStateRefusesToOverwriteGarbage(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
	updatePods := func() error {
		_, err := e.store.UpdatePods(c, "d", setPods(map[string]configdb.PodStatus{"p": configdb.PodRunning}))
		return err
	}
	updateRelease := func() error {
		_, err := e.store.UpdateRelease(c, "d", func(cur configdb.ReleaseStatus, _ bool) configdb.ReleaseStatus {
			cur.Status = "deployed"
			return cur
		})
		return err
	}
	tests := []struct {
		garbage string
		owner   func() error // refuses, leaving the entry as it is
		other   func() error // writes its own part, keeping the garbage
		kept    string
		says    string // what the owner's error tells the user
	}{
		{`not json`, updatePods, updateRelease, "", "state entry cannot be read: invalid character"},
		{`[1, 2]`, updateRelease, updatePods, "", "it is a list, not a JSON object"},
		{`{"pods": "RUNNING"}`, updatePods, updateRelease, `"pods": "RUNNING"`, `"pods" is a string, not an object`},
		{`{"pods": {"p": 5}}`, updatePods, updateRelease, `"p": 5`, `pod "p" has status a number, not a string`},
		{`{"release": 7}`, updateRelease, updatePods, `"release": 7`, `"release" is a number, not an object`},
	}
	for _, tt := range tests {
		e.putRaw(t, "/deploy/d/state", tt.garbage)
		err := tt.owner()
		if !errors.Is(err, configdb.ErrBadState) {
			t.Errorf("%s: owner's update: %v, want ErrBadState", tt.garbage, err)
		}
		// A JSON object with one part of the wrong shape must not be
		// called "not a JSON object": the message is all the user sees.
		if err == nil || !strings.Contains(err.Error(), tt.says) || (tt.garbage[0] == '{' && strings.Contains(err.Error(), "not a JSON object")) {
			t.Errorf("%s: owner's error %q, want it to say %q", tt.garbage, err, tt.says)
		}
		if raw, _ := e.getRaw(t, "/deploy/d/state"); raw != tt.garbage {
			t.Errorf("%s: overwritten by its part's owner: %s", tt.garbage, raw)
		}
		err = tt.other()
		raw, _ := e.getRaw(t, "/deploy/d/state")
		if tt.kept == "" {
			if !errors.Is(err, configdb.ErrBadState) || raw != tt.garbage {
				t.Errorf("%s: whole-entry garbage: %v, now %s", tt.garbage, err, raw)
			}
		} else if err != nil || !strings.Contains(raw, tt.kept) {
			t.Errorf("%s: other part's update: %v, garbage part not kept: %s", tt.garbage, err, raw)
		}
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
