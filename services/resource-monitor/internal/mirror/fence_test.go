package mirror

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest/leadertest"
)

// The mirror's writes carry its term's fence: once the term's election key
// is gone (the lease lost during a pause), neither a new entry nor a
// removal is written, the reconcile is dropped rather than retried, and
// the term ends.
func TestFencedWrites(t *testing.T) {
	f := start(t, nad("a", "1", cfgA))
	term, leadCtx, lose := leadertest.Term(t, f.store.Client(), "/leader/resource-monitor")
	f.m = New(Config{Store: f.store.Fenced(term.Fence()), Term: term, NADs: f.nads, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Timeout: 5 * time.Second}, NewMetrics(f.reg), f.reg)
	ctx := context.Background()
	if err := f.m.work(ctx, key); err != nil {
		t.Fatalf("reconcile while the term holds: %v", err)
	}
	f.waitEntries("written while the term holds", entryA, snA)

	lose()
	f.nads.set(nad("b", "1", `{"type": "macvlan", "ipam": {"type": "host-local", "subnet": "10.1.2.0/24"}}`))
	before, err := f.store.Client().Get(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.work(ctx, key); err != nil {
		t.Errorf("work = %v, want the reconcile dropped", err)
	}
	after, err := f.store.Client().Get(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	if after.Header.Revision != before.Header.Revision {
		t.Errorf("revision moved from %d to %d: written after the term was lost", before.Header.Revision, after.Header.Revision)
	}
	f.waitEntries("untouched after the term was lost", entryA, snA)
	leadertest.CheckEnded(t, term, leadCtx)
}

// Once the term's context has ended, the key left in the queue is not
// worked: nothing is written.
func TestNoWorkAfterTheTerm(t *testing.T) {
	f := start(t, nad("a", "1", cfgA))
	f.m = New(Config{Store: f.store, NADs: f.nads, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Timeout: 5 * time.Second}, NewMetrics(f.reg), f.reg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.m.work(ctx, key); !errors.Is(err, context.Canceled) {
		t.Errorf("work after the term = %v, want context.Canceled", err)
	}
	if list, err := f.store.ListResources(context.Background()); err != nil || len(list.Resources) != 0 {
		t.Errorf("entries %v (%v) written after the term ended", list.Resources, err)
	}
}
