package monitor

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest/leadertest"
)

// The monitor's writes carry its term's fence: once the term's election
// key is gone (the lease lost during a pause), a pods write and an orphan
// removal write nothing, the key is dropped rather than retried, and the
// term ends.
func TestFencedWrites(t *testing.T) {
	// setup(f, i) prepares the i-th write of deployment id i: the first
	// is made while the term holds, the second after it was lost.
	tests := []struct {
		name  string
		setup func(f *fixture, id string)
	}{
		{name: "pods written", setup: func(f *fixture, id string) {
			f.deployment(id, "helm")
			f.m.known[id] = true
			f.pods.set(pod("p-"+id, "sdp-"+id, corev1.PodRunning))
		}},
		{name: "orphan state removed", setup: func(f *fixture, id string) {
			if _, err := f.store.Client().Put(context.Background(), f.store.Layout().StateKey(id), `{"pods": {}}`); err != nil {
				f.t.Fatal(err)
			}
			f.m.markOrphan(id)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			term, leadCtx, lose := leadertest.Term(t, f.store.Client(), "/leader/pod-monitor")
			f.m.cfg.Store, f.m.cfg.Term = f.store.Fenced(term.Fence()), term
			ctx := context.Background()
			revision := func() int64 {
				resp, err := f.store.Client().Get(ctx, "any")
				if err != nil {
					t.Fatal(err)
				}
				return resp.Header.Revision
			}
			tt.setup(f, "held")
			before := revision()
			if err := f.m.work(ctx, "held"); err != nil {
				t.Fatalf("work while the term holds: %v", err)
			}
			if revision() == before {
				t.Fatal("nothing written while the term holds")
			}
			tt.setup(f, "lost")
			lose()
			before = revision()
			if err := f.m.work(ctx, "lost"); err != nil {
				t.Errorf("work = %v, want the key dropped", err)
			}
			if after := revision(); after != before {
				t.Errorf("revision moved from %d to %d: written after the term was lost", before, after)
			}
			leadertest.CheckEnded(t, term, leadCtx)
		})
	}
}

// Without a term (leader election off) the monitor writes unfenced.
func TestUnfencedWithoutTerm(t *testing.T) {
	f := newFixture(t)
	var none *leader.Term // as leader.TermFrom gives without an election
	f.m.cfg.Store = f.store.Fenced(none.Fence())
	f.deployment("d", "helm")
	f.m.known["d"] = true
	f.pods.set(pod("p", "sdp-d", corev1.PodRunning))
	if err := f.m.work(context.Background(), "d"); err != nil {
		t.Fatal(err)
	}
	if pods, found, _ := f.state("d"); !found || len(pods) != 1 {
		t.Errorf("pods %v not written", pods)
	}
}

// Once the term's context has ended, the keys left in the queue are not
// worked: nothing is written for them.
func TestNoWorkAfterTheTerm(t *testing.T) {
	f := newFixture(t)
	f.deployment("d", "helm")
	f.m.known["d"] = true
	f.pods.set(pod("p", "sdp-d", corev1.PodRunning))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.m.work(ctx, "d"); !errors.Is(err, context.Canceled) {
		t.Errorf("work after the term = %v, want context.Canceled", err)
	}
	if _, found, _ := f.state("d"); found {
		t.Error("state written after the term ended")
	}
}
