package monitor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// Fast tests of the monitor against a real etcd, with the pod cache
// replaced by a map that the test sets and whose events it delivers itself,
// so that what is queued before the workers start is exact. The informer
// side is tested against the API server in package app.

func TestBurstIsOneWrite(t *testing.T) {
	f := newFixture(t)
	f.deployment("d", "helm")
	h := f.m.EventHandler()
	// Ten pods of one deployment appear and go through their phases before
	// the workers start: one key in the queue, one write of the last map.
	for i := range 10 {
		name := string(rune('a' + i))
		p := pod(name, "sdp-d", corev1.PodPending)
		f.pods.set(p)
		h.OnAdd(p, false)
		q := p.DeepCopy()
		q.Status.Phase = corev1.PodSucceeded
		f.pods.set(q)
		h.OnUpdate(p, q)
	}
	f.run()
	f.eventually("d's pods", func() (bool, string) {
		pods, _, _ := f.state("d")
		return len(pods) == 10, fmt.Sprint(pods)
	})
	f.settle()
	pods, found, version := f.state("d")
	if !found || len(pods) != 10 || pods["a"] != configdb.PodFinished || version != 1 {
		t.Fatalf("state of d: found %v, pods %v, written %d times; want 10 FINISHED pods written once", found, pods, version)
	}
	if n := f.observed(); n != 1 {
		t.Errorf("%d latencies observed, want 1", n)
	}
	if got := f.writes("written"); got != 1 {
		t.Errorf("writes{written} = %v, want 1", got)
	}
	// Events that change nothing the map shows (a resync, a label not
	// looked at) cost no write.
	p := pod("a", "sdp-d", corev1.PodSucceeded)
	h.OnUpdate(p, p)
	f.settle()
	if _, _, version := f.state("d"); version != 1 {
		t.Errorf("state written %d times after an event that changed nothing", version)
	}
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

func TestPodEvents(t *testing.T) {
	type step struct {
		name  string
		event func(f *fixture, h cache.ResourceEventHandler)
		want  map[string]map[string]configdb.PodStatus // id → pods; nil map: no state entry
	}
	running := func(name, release string) *corev1.Pod { return pod(name, release, corev1.PodRunning) }
	for _, tc := range []struct {
		name  string
		steps []step
	}{{
		name: "a pod relabelled from one deployment to another leaves the first map",
		steps: []step{{
			name: "added to d1",
			event: func(f *fixture, h cache.ResourceEventHandler) {
				p := running("p", "sdp-d1")
				f.pods.set(p)
				h.OnAdd(p, false)
			},
			want: map[string]map[string]configdb.PodStatus{"d1": {"p": configdb.PodPending}},
		}, {
			name: "moved to d2",
			event: func(f *fixture, h cache.ResourceEventHandler) {
				p := running("p", "sdp-d2")
				f.pods.set(p)
				h.OnUpdate(running("p", "sdp-d1"), p)
			},
			want: map[string]map[string]configdb.PodStatus{"d1": {}, "d2": {"p": configdb.PodPending}},
		}},
	}, {
		name: "a pod deleted while the watch was down (tombstone) leaves the map",
		steps: []step{{
			name: "two pods",
			event: func(f *fixture, h cache.ResourceEventHandler) {
				for _, n := range []string{"p", "q"} {
					p := running(n, "sdp-d1")
					f.pods.set(p)
					h.OnAdd(p, false)
				}
			},
			want: map[string]map[string]configdb.PodStatus{"d1": {"p": configdb.PodPending, "q": configdb.PodPending}},
		}, {
			name: "p gone, known from a re-list",
			event: func(f *fixture, h cache.ResourceEventHandler) {
				f.pods.del("p")
				h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: running("p", "sdp-d1")})
			},
			want: map[string]map[string]configdb.PodStatus{"d1": {"q": configdb.PodPending}},
		}},
	}, {
		name: "pods of no known deployment write nothing",
		steps: []step{{
			name: "pods of a missing, a non-helm, a foreign and no deployment",
			event: func(f *fixture, h cache.ResourceEventHandler) {
				for _, p := range []*corev1.Pod{running("a", "sdp-ghost"), running("b", "sdp-other"), running("c", "x-d1"), running("d", ""), running("e", "sdp-bad_id")} {
					f.pods.set(p)
					h.OnAdd(p, false)
				}
			},
			want: map[string]map[string]configdb.PodStatus{"ghost": nil, "other": nil, "d1": nil},
		}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.deployment("d1", "helm")
			f.deployment("d2", "helm")
			f.deployment("other", "slurm")
			f.run()
			h := f.m.EventHandler()
			for _, s := range tc.steps {
				s.event(f, h)
				f.settle()
				f.eventually(s.name, func() (bool, string) {
					for id, want := range s.want {
						pods, found, _ := f.state(id)
						if want == nil && found || want != nil && (!found || !maps.Equal(pods, want)) {
							return false, fmt.Sprintf("state of %s: found %v, pods %v; want %v", id, found, pods, want)
						}
					}
					return true, ""
				})
			}
		})
	}
}

func TestIgnoredPodsAreCountedAndLoggedOnce(t *testing.T) {
	f := newFixture(t)
	f.run()
	h := f.m.EventHandler()
	for _, p := range []*corev1.Pod{pod("none", "", ""), pod("foreign", "other-x", ""), pod("bad", "sdp-bad_id", "")} {
		h.OnAdd(p, false)
		// Status changes of the same pod are not reported again.
		q := p.DeepCopy()
		q.Status.Phase = corev1.PodRunning
		h.OnUpdate(p, q)
	}
	// A pod that gets a bad label later is.
	h.OnUpdate(pod("late", "sdp-ok", ""), pod("late", "sdp-not_ok", ""))
	f.settle()
	for reason, want := range map[string]float64{podcache.NoReleaseLabel: 1, podcache.OtherPrefix: 1, podcache.InvalidID: 2} {
		if got := testutil.ToFloat64(f.m.metrics.ignored.WithLabelValues(reason)); got != want {
			t.Errorf("ignored_pods_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	logs := f.logText()
	if n := strings.Count(logs, `"level":"WARN","msg":"pod ignored: its release label names no valid deployment id","pod":"bad"`); n != 1 {
		t.Errorf("bad pod logged at warn %d times, want 1:\n%s", n, logs)
	}
}

func TestOrphanState(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.deployment("kept", "helm")
	f.deployment("other", "slurm")
	raw := map[string]string{
		"kept":  `{"pods": {}, "release": {"status": "deployed"}}`,
		"other": `{"whatever": 1}`, // another deployer's, its entry exists
		"gone":  `{"pods": {"x": "RUNNING"}}`,
	}
	for id, v := range raw {
		if _, err := f.store.Client().Put(ctx, f.store.Layout().StateKey(id), v); err != nil {
			t.Fatal(err)
		}
	}
	f.run()
	f.eventually("the sweep", func() (bool, string) {
		ids, _, err := f.store.StateIDs(ctx)
		return err == nil && strings.Join(ids, ",") == "kept,other", fmt.Sprint(ids, err)
	})
	// An entry deleted behind the store's back (not with its state): the
	// delete event removes the state.
	if _, err := f.store.Client().Delete(ctx, f.store.Layout().DeploymentKey("kept")); err != nil {
		t.Fatal(err)
	}
	f.eventually("kept's state removed", func() (bool, string) {
		_, found, _ := f.state("kept")
		return !found, "found"
	})
	if got := testutil.ToFloat64(f.m.metrics.orphans); got != 2 {
		t.Errorf("orphan_states_removed_total = %v, want 2", got)
	}
}

func TestReconcileEdgeCases(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Known to the monitor, but the entry is gone (its delete event not yet
	// seen): no state created, no retry.
	f.m.known["vanished"] = true
	f.pods.set(pod("v", "sdp-vanished", corev1.PodRunning))
	if err := f.m.reconcile(ctx, "vanished"); err != nil {
		t.Errorf("reconcile of a deployment that went: %v", err)
	}
	if _, found, _ := f.state("vanished"); found {
		t.Error("state created for a deployment without an entry")
	}
	// A state entry that is not JSON: left as it is, not retried.
	f.deployment("broken", "helm")
	f.m.known["broken"] = true
	f.pods.set(pod("b", "sdp-broken", corev1.PodRunning))
	key := f.store.Layout().StateKey("broken")
	if _, err := f.store.Client().Put(ctx, key, "[1, 2]"); err != nil {
		t.Fatal(err)
	}
	if err := f.m.reconcile(ctx, "broken"); !errors.Is(err, controller.ErrPermanent) || !errors.Is(err, configdb.ErrBadState) {
		t.Errorf("reconcile over a bad state entry: %v, want a permanent ErrBadState", err)
	}
	if resp, _ := f.store.Client().Get(ctx, key); len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "[1, 2]" {
		t.Errorf("bad state entry overwritten: %v", resp.Kvs)
	}
	// etcd away: the error is returned (the queue retries it), nothing lost.
	f.deployment("later", "helm")
	f.m.known["later"] = true
	f.pods.set(pod("l", "sdp-later", corev1.PodPending))
	f.m.enqueue("later", true)
	f.etcd.Stop()
	shortCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := f.m.reconcile(shortCtx, "later"); err == nil {
		t.Fatal("reconcile with etcd away succeeded")
	}
	f.etcd.Restart()
	if err := f.m.reconcile(ctx, "later"); err != nil {
		t.Fatalf("reconcile after etcd came back: %v", err)
	}
	if pods, _, _ := f.state("later"); pods["l"] != configdb.PodPending {
		t.Errorf("state of later after etcd came back: %v", pods)
	}
	// The latency of the failed attempt's event was kept for the write.
	if n := f.observed(); n != 1 {
		t.Errorf("%d latencies observed, want 1 (the failed attempt's event, written later)", n)
	}
}
