// Tests of the state entries: each writer changes only its own part, by
// compare-and-swap, and never creates an entry without its deployment.

package configdb_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

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
