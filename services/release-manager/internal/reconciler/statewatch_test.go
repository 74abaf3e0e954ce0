package reconciler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// A state entry deleted by hand, or whose release part someone else
// overwrote, is written again within seconds, once per tamper; the
// pod-monitor's writes of its own part cost no write.
func TestStateEntryRepaired(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, srv, nil)
	h.put("d", entryJSON("d", "cm", `{"replicas": 1}`))
	h.start()
	orig := h.waitState("d", deployed(1))
	writes := func() int { return int(testutil.ToFloat64(h.rec.metrics.stateWrites.WithLabelValues("written"))) }
	// The pending write and the deployed one; then quiet.
	settled := func(want int) {
		t.Helper()
		eventually.Eventually(t, 5*time.Second, func() error {
			if n := writes(); n != want {
				return fmt.Errorf("%d state writes, want %d", n, want)
			}
			return nil
		})
		// Nothing more comes: no write answers the echo of a write.
		time.Sleep(300 * time.Millisecond)
		if n := writes(); n != want {
			t.Fatalf("%d state writes after settling, want %d: the service answers its own writes", n, want)
		}
	}
	settled(2)
	ctx := context.Background()
	key := h.store.Layout().StateKey("d")
	restored := func(st configdb.DeploymentState, found bool) bool {
		return found && st.Release != nil && st.Release.Status == orig.Release.Status && st.Release.Revision == orig.Release.Revision &&
			st.Release.Name == orig.Release.Name && st.Release.Chart == orig.Release.Chart && st.Release.Version == orig.Release.Version &&
			st.Release.Error == ""
	}
	within5s := func(what string, cond func(configdb.DeploymentState, bool) bool) configdb.DeploymentState {
		t.Helper()
		var st configdb.DeploymentState
		eventually.Eventually(t, 5*time.Second, func() error {
			var found bool
			var err error
			st, found, err = h.getState("d")
			if err != nil || !cond(st, found) {
				return fmt.Errorf("%s: state %+v (release %+v, found %v, %v)", what, st, st.Release, found, err)
			}
			return nil
		})
		return st
	}

	// Deleted by hand: back, chart version included.
	if _, err := h.store.Client().Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	within5s("deleted entry back", restored)
	settled(3)

	// The pod-monitor writes its part: nothing for this service to do.
	if _, err := h.store.UpdatePods(ctx, "d", func(map[string]configdb.PodStatus) map[string]configdb.PodStatus {
		return map[string]configdb.PodStatus{"p": configdb.PodRunning}
	}); err != nil {
		t.Fatal(err)
	}
	settled(3)

	// The release part overwritten: restored, the pods part kept.
	if _, err := h.store.Client().Put(ctx, key, `{"pods": {"p": "RUNNING"}, "release": {"name": "sdp-d", "status": "failed", "revision": 7, "error": "by hand"}}`); err != nil {
		t.Fatal(err)
	}
	st := within5s("overwritten release part restored", restored)
	if st.Pods["p"] != configdb.PodRunning {
		t.Errorf("pods part %v, want the pod-monitor's kept", st.Pods)
	}
	settled(4)

	// Garbage in the release part: restored too.
	if _, err := h.store.Client().Put(ctx, key, `{"pods": {"p": "RUNNING"}, "release": {"name": "sdp-d", "status": "deployed", "revision": 1, "chart": "other"}}`); err != nil {
		t.Fatal(err)
	}
	within5s("changed chart restored", restored)
	settled(5)
}

// A state entry of a deployment whose entry is gone is not recreated.
func TestStateEntryOfDeletedDeploymentNotRecreated(t *testing.T) {
	srv := etcdtest.Start(t)
	h := newHarness(t, srv, nil)
	h.put("d", entryJSON("d", "cm", `{"replicas": 1}`))
	h.start()
	h.waitState("d", deployed(1))
	h.del("d")
	h.waitState("d", func(_ configdb.DeploymentState, found bool) bool { return !found })
	// A stray write by hand after the deployment went: removed by the next
	// look (the pod-monitor's sweep), never answered with a release part.
	if _, err := h.store.Client().Put(context.Background(), h.store.Layout().StateKey("d"), `{"release": {"status": "deployed"}}`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	st, found, err := h.getState("d")
	if err != nil || !found || st.Release == nil || st.Release.Name != "" {
		t.Errorf("state %+v %v %v: the hand-written entry should be left as it is by this service", st.Release, found, err)
	}
}
