package controller

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// A part that is a plain string: what the entry's release name holds.
func testPart(t *testing.T, owned map[string]bool) (*StatePart[int, string], Queue) {
	t.Helper()
	q := NewQueue("statepart", prometheus.NewRegistry(), QueueOptions{})
	t.Cleanup(q.ShutDown)
	p := NewStatePart[int](StatePartConfig[string]{
		Name: "test part", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Queue: q,
		Owned: func(id string) bool { return owned[id] },
		Keys: func() []string {
			var ids []string
			for id := range owned {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			return ids
		},
		Part: func(ch configdb.StateChange) (string, bool) {
			if !ch.Found || ch.State.Release == nil {
				return "", false
			}
			return ch.State.Release.Name, true
		},
		Same: func(a, b string) bool { return a == b },
	})
	return p, q
}

func change(id string, found bool, name string, err error) configdb.StateChange {
	ch := configdb.StateChange{ID: id}
	ch.Found, ch.Err = found, err
	if name != "" {
		ch.State.Release = &configdb.ReleaseStatus{Name: name}
	}
	return ch
}

func TestStatePartRepairsOnlyOthersChanges(t *testing.T) {
	for _, tc := range []struct {
		name     string
		intended string // "" for nothing meant yet
		ch       configdb.StateChange
		requeue  bool
	}{
		{"own write's echo", "a", change("d1", true, "a", nil), false},
		{"overwritten by someone else", "a", change("d1", true, "b", nil), true},
		{"entry deleted", "a", change("d1", false, "", nil), true},
		{"part removed", "a", change("d1", true, "", nil), true},
		{"entry undecodable", "a", change("d1", true, "a", errors.New("bad json")), true},
		{"nothing meant yet", "", change("d1", true, "a", nil), true},
		{"deployment not owned", "a", change("gone", true, "b", nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, q := testPart(t, map[string]bool{"d1": true})
			if tc.intended != "" {
				p.Intend(tc.ch.ID, tc.intended)
			}
			p.SetWritten(tc.ch.ID, 7)
			p.onChange(tc.ch)
			if got := q.Len() == 1; got != tc.requeue {
				t.Fatalf("requeued = %v, want %v", got, tc.requeue)
			}
			if _, kept := p.Written(tc.ch.ID); kept == tc.requeue {
				t.Errorf("written kept = %v after a change that requeues = %v", kept, tc.requeue)
			}
		})
	}
}

func TestStatePartResync(t *testing.T) {
	p, q := testPart(t, map[string]bool{"d1": true, "d2": true})
	p.SetWritten("d1", 1)
	p.onResync(configdb.ResyncStart)
	if q.Len() != 0 {
		t.Fatalf("the start queued %d keys; the first list does that", q.Len())
	}
	if _, ok := p.Written("d1"); !ok {
		t.Fatal("the start forgot what was written")
	}
	p.onResync("compacted")
	if q.Len() != 2 {
		t.Fatalf("a gap queued %d keys, want 2", q.Len())
	}
	if _, ok := p.Written("d1"); ok {
		t.Error("after a gap what was written is still trusted")
	}
}

func TestStatePartForget(t *testing.T) {
	p, _ := testPart(t, nil)
	p.Intend("d1", "a")
	p.SetWritten("d1", 1)
	p.Forget("d1")
	if _, ok := p.Intended("d1"); ok {
		t.Error("intent kept")
	}
	if _, ok := p.Written("d1"); ok {
		t.Error("write kept")
	}
}
