package configdb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// recorder collects what a deployment watch delivers.
type recorder struct {
	mu      sync.Mutex
	resyncs []string
	events  []configdb.DeploymentEvent
	seen    map[string]bool // latest known existence per id
	onFirst func()
}

func newRecorder() *recorder { return &recorder{seen: map[string]bool{}} }

func (r *recorder) watch() configdb.DeploymentWatch {
	return configdb.DeploymentWatch{
		OnResync: func(list configdb.DeploymentList, reason string) {
			r.mu.Lock()
			r.resyncs = append(r.resyncs, reason)
			r.seen = map[string]bool{}
			for _, d := range list.Deployments {
				r.seen[d.ID] = true
			}
			first := r.onFirst
			r.onFirst = nil
			r.mu.Unlock()
			if first != nil {
				first()
			}
		},
		OnEvent: func(ev configdb.DeploymentEvent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, ev)
			r.seen[ev.ID] = !ev.Deleted
		},
	}
}

func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually.Eventually(t, 20*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !cond() {
			return fmt.Errorf("waiting for %s; resyncs %v, seen %v, %d events", what, r.resyncs, r.seen, len(r.events))
		}
		return nil
	})
}

func startWatch(t *testing.T, s *configdb.Store, r *recorder) {
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.WatchDeployments(c, r.watch()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("watch returned %v", err)
		}
	})
}

func TestWatchDeploymentsEvents(t *testing.T) {
	e := newStore(t)
	e.putRaw(t, "/deploy/before", `{"key": "before", "kind": "helm", "args": {"chart": "c"}}`)
	r := newRecorder()
	startWatch(t, e.store, r)
	r.waitFor(t, "start resync", func() bool { return len(r.resyncs) == 1 && r.seen["before"] })
	e.putRaw(t, "/deploy/after", `{"id": "after", "type": "helm", "args": {"chart": "c"}}`)
	e.putRaw(t, "/deploy/after/state", `{}`) // not a deployment: not seen
	e.putRaw(t, "/deploy/broken", `{`)
	if _, err := e.client.Delete(ctx(t), e.store.Layout().Key("/deploy/before")); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "events", func() bool { return len(r.events) == 3 })
	r.mu.Lock()
	defer r.mu.Unlock()
	got := fmt.Sprintf("%s %v %v %s %v %s %v", r.events[0].ID, r.events[0].Deleted, r.events[0].Err == nil,
		r.events[1].ID, r.events[1].Err != nil, r.events[2].ID, r.events[2].Deleted)
	if got != "after false true broken true before true" {
		t.Errorf("events: %s", got)
	}
	if r.events[0].Deployment.Chart != "c" || r.events[0].Revision == 0 {
		t.Errorf("event 0: %+v", r.events[0])
	}
}

func TestWatchResumesAfterCompaction(t *testing.T) {
	e := newStore(t)
	r := newRecorder()
	// Between the first list and the start of the watch, changes happen and
	// history is compacted past the listed revision: the watch cannot resume
	// from it, and must list again rather than miss "late".
	r.onFirst = func() {
		e.putRaw(t, "/deploy/late", `{"key": "late", "kind": "helm", "args": {"chart": "c"}}`)
		e.putRaw(t, "/deploy/late2", `{"key": "late2", "kind": "helm", "args": {"chart": "c"}}`)
		e.srv.Compact(t, e.client)
	}
	startWatch(t, e.store, r)
	r.waitFor(t, "resync after compaction", func() bool {
		return len(r.resyncs) == 2 && r.resyncs[1] == configdb.ResyncCompacted && r.seen["late"] && r.seen["late2"]
	})
	// And it goes on watching from the new list.
	e.putRaw(t, "/deploy/later", `{"key": "later", "kind": "helm", "args": {"chart": "c"}}`)
	r.waitFor(t, "event after resync", func() bool { return r.seen["later"] })
}

func TestWatchSurvivesEtcdRestart(t *testing.T) {
	e := newStore(t)
	r := newRecorder()
	startWatch(t, e.store, r)
	r.waitFor(t, "start", func() bool { return len(r.resyncs) == 1 })
	e.srv.Stop()
	time.Sleep(200 * time.Millisecond)
	e.srv.Restart()
	e.putRaw(t, "/deploy/after-restart", `{"key": "after-restart", "kind": "helm", "args": {"chart": "c"}}`)
	r.waitFor(t, "change after restart", func() bool { return r.seen["after-restart"] })
}

func TestWatchState(t *testing.T) {
	e := newStore(t)
	e.putRaw(t, "/deploy/w", `{"key": "w", "kind": "helm", "args": {"chart": "c"}}`)
	var mu sync.Mutex
	var got []string
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.store.WatchState(c, "w", func(ev configdb.StateEvent) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ev.Err != nil:
				got = append(got, "error")
			case !ev.Found:
				got = append(got, "absent")
			default:
				got = append(got, fmt.Sprintf("pods=%v", ev.State.Pods))
			}
		})
	}()
	wait := func(n int) {
		t.Helper()
		eventually.Eventually(t, 20*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(got) < n {
				return fmt.Errorf("waiting for %d events; got %v", n, got)
			}
			return nil
		})
	}
	wait(1)
	// Each step is what the watcher must report next: an update as a
	// service writes it, a sibling leaf that is not the state entry (not
	// seen), garbage, and the removal with the deployment.
	steps := []struct {
		do   func()
		want string
	}{
		{func() {
			if _, err := e.store.UpdatePods(ctx(t), "w", setPods(map[string]configdb.PodStatus{"p": configdb.PodRunning})); err != nil {
				t.Fatal(err)
			}
		}, "pods=map[p:RUNNING]"},
		{func() {
			e.putRaw(t, "/deploy/w/statex", `{}`)
			e.putRaw(t, "/deploy/w/state", `[1]`)
		}, "error"},
		{func() {
			if _, err := e.store.DeleteDeployment(ctx(t), "w"); err != nil {
				t.Fatal(err)
			}
		}, "absent"},
	}
	want := []string{"absent"}
	for i, s := range steps {
		s.do()
		want = append(want, s.want)
		wait(i + 2)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("WatchState returned %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func TestWatchStates(t *testing.T) {
	e := newStore(t)
	e.putRaw(t, "/deploy/a", `{"key": "a", "kind": "helm", "args": {"chart": "c"}}`)
	e.putRaw(t, "/deploy/b", `{"key": "b", "kind": "helm", "args": {"chart": "c"}}`)
	var mu sync.Mutex
	var got, resyncs []string
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.store.WatchStates(c, configdb.StateWatch{
			OnResync: func(reason string) {
				mu.Lock()
				defer mu.Unlock()
				resyncs = append(resyncs, reason)
			},
			OnChange: func(ch configdb.StateChange) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case ch.Err != nil:
					got = append(got, ch.ID+" error")
				case !ch.Found:
					got = append(got, ch.ID+" absent")
				default:
					got = append(got, fmt.Sprintf("%s pods=%v", ch.ID, ch.State.Pods))
				}
			},
		})
	}()
	eventually.Eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(resyncs) == 0 {
			return errors.New("not started")
		}
		return nil
	})
	// Other leaves and the deployment entries themselves are not state
	// entries: only the state changes of both deployments are seen.
	if _, err := e.store.UpdatePods(ctx(t), "a", setPods(map[string]configdb.PodStatus{"p": configdb.PodRunning})); err != nil {
		t.Fatal(err)
	}
	e.putRaw(t, "/deploy/a/statex", `{}`)
	e.putRaw(t, "/deploy/c", `{"key": "c", "kind": "helm", "args": {"chart": "c"}}`)
	e.putRaw(t, "/deploy/b/state", `[1]`)
	if _, err := e.client.Delete(ctx(t), e.store.Layout().StateKey("a")); err != nil {
		t.Fatal(err)
	}
	want := []string{"a pods=map[p:RUNNING]", "b error", "a absent"}
	eventually.Eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < len(want) {
			return fmt.Errorf("waiting for %d changes; got %v", len(want), got)
		}
		return nil
	})
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("WatchStates returned %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(resyncs) != fmt.Sprint([]string{configdb.ResyncStart}) {
		t.Errorf("changes %v, resyncs %v; want %v, [start]", got, resyncs, want)
	}
}

// After a compaction past the watch's revision, the watch says so (the
// caller then looks at everything again) and follows on.
func TestWatchStatesResyncsAfterCompaction(t *testing.T) {
	e := newStore(t)
	e.putRaw(t, "/deploy/a", `{"key": "a", "kind": "helm", "args": {"chart": "c"}}`)
	var mu sync.Mutex
	var resyncs []string
	seen := map[string]bool{}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.store.WatchStates(c, configdb.StateWatch{
			OnResync: func(reason string) {
				mu.Lock()
				resyncs = append(resyncs, reason)
				first := len(resyncs) == 1
				mu.Unlock()
				if first {
					// Between the read of the revision and the start of the
					// watch, changes and a compaction past it.
					e.putRaw(t, "/deploy/a/state", `{"pods": {}}`)
					e.putRaw(t, "/deploy/a/state", `{"pods": {"p": "RUNNING"}}`)
					e.srv.Compact(t, e.client)
				}
			},
			OnChange: func(ch configdb.StateChange) {
				mu.Lock()
				defer mu.Unlock()
				seen[ch.ID] = ch.Found
			},
		})
	}()
	eventually.Eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(resyncs) != fmt.Sprint([]string{configdb.ResyncStart, configdb.ResyncCompacted}) {
			return fmt.Errorf("resyncs %v, want [start compacted]", resyncs)
		}
		return nil
	})
	if _, err := e.client.Delete(ctx(t), e.store.Layout().StateKey("a")); err != nil {
		t.Fatal(err)
	}
	eventually.Eventually(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if found, ok := seen["a"]; !ok || found {
			return errors.New("the delete after the resync not seen")
		}
		return nil
	})
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("WatchStates returned %v, want context.Canceled", err)
	}
}
