package app

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/clustertest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// The API server stops answering for a while (SIGSTOP, as a hung or
// partitioned server looks from the client). The monitor keeps working
// from its cache: a deployment written meanwhile gets the map of its pods
// that already exist. When the server answers again, pod changes flow as
// before.
func TestAPIServerAway(t *testing.T) {
	e := newEnv(t)
	own, cfg, cs := clustertest.OwnCluster(t, t.Context(), e.ns)
	e.cfg, e.cs = cfg, cs
	e.deployment("before")
	e.pod("a", instance("sdp-before"))
	e.pod("b", instance("sdp-during"))
	e.setStatus("b", corev1.PodRunning, nil)
	e.start()
	e.waitPods("before", "a", is("a", configdb.PodPending))

	resume := cptest.PauseAPIServer(t, own)
	e.deployment("during")
	e.waitPods("during", "map from the cache while the API server is away", is("b", configdb.PodPending))
	time.Sleep(5 * time.Second)
	resume()
	yes := true
	e.setStatus("a", corev1.PodRunning, &yes)
	e.waitPods("before", "a change after the API server came back", is("a", configdb.PodRunning))
	e.pod("c", instance("sdp-during"))
	e.waitPods("during", "a new pod after the API server came back", is("c", configdb.PodPending))
}

// Leadership lost and won again in the same process: the second term
// starts from the cache (which kept running) and from what changed in the
// DB meanwhile; nothing is written between terms.
func TestSecondTermOfLeadership(t *testing.T) {
	e := newEnv(t)
	store, _ := configdb.NewStore(e.etcd.Client(t), "")
	rt := etcdtest.Runtime(t, "pod-monitor", e.env, store)
	lead, err := New(rt, e.cfg, Options{Workers: 2, Resync: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	term := func() (end func()) { return servicetest.RunLead(t, rt.Context(), lead) }
	e.deployment("d")
	e.pod("a", instance("sdp-d"))
	end := term()
	e.waitPods("d", "first term", is("a", configdb.PodPending))
	end()
	// Between terms: a pod changes, a deployment comes, another goes.
	e.setStatus("a", corev1.PodFailed, nil)
	e.deployment("new")
	e.pod("n", instance("sdp-new"))
	if _, err := e.store.Client().Delete(context.Background(), e.store.Layout().DeploymentKey("d")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if st, _, _ := e.store.GetState(context.Background(), "new"); len(st.Pods) != 0 {
		t.Fatalf("written while no term was running: %v", st.Pods)
	}
	end = term()
	defer end()
	e.waitPods("new", "second term", is("n", configdb.PodPending))
	e.waitPods("d", "orphan of the gap removed", func(_ map[string]configdb.PodStatus, found bool) bool { return !found })
}
