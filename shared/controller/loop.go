package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Gate marks a term's "first full list is in": until it opens, the leader
// is not ready, and a Loop holding it works no key, since an object whose
// entry has not been read yet would look like one whose entry is gone.
type Gate struct {
	notYet error
	once   sync.Once
	open   chan struct{}
}

// NewGate returns a shut gate whose readiness error, until it opens, is
// notYet.
func NewGate(notYet string) *Gate {
	return &Gate{notYet: errors.New(notYet), open: make(chan struct{})}
}

// Open opens the gate; it reports whether this call opened it.
func (g *Gate) Open() (first bool) {
	g.once.Do(func() {
		close(g.open)
		first = true
	})
	return first
}

// Ready reports whether the gate is open.
func (g *Gate) Ready(context.Context) error {
	select {
	case <-g.open:
		return nil
	default:
		return g.notYet
	}
}

// wait returns when the gate opens or ctx ends.
func (g *Gate) wait(ctx context.Context) {
	select {
	case <-g.open:
	case <-ctx.Done():
	}
}

// Source feeds a term's queue (a config DB watch, a ticker) until ctx ends.
type Source func(ctx context.Context) error

// Loop is the work of one term: its sources feed the queue while workers
// drain it.
type Loop struct {
	Queue     Queue
	Workers   int
	Log       *slog.Logger
	Reconcile Reconcile
	// Gate, if set, holds the workers until it opens.
	Gate    *Gate
	Sources []Source
	// Recovery, if set, queues the keys that wait on a dependency at once
	// when it is back; its probes run with the loop.
	Recovery *Recovery
}

// Run runs the sources and the workers until ctx ends, then waits for the
// sources and returns their errors, the term's end excepted.
func (l Loop) Run(ctx context.Context) error {
	errs := make([]error, len(l.Sources))
	var wg sync.WaitGroup
	for i, s := range l.Sources {
		wg.Go(func() { errs[i] = s(ctx) })
	}
	if l.Recovery != nil {
		wg.Go(func() { l.Recovery.run(ctx) })
	}
	if l.Gate != nil {
		l.Gate.wait(ctx)
	}
	runWorkers(ctx, l.Queue, l.Workers, l.Log, l.Reconcile, l.Recovery)
	wg.Wait()
	for i, err := range errs {
		if errors.Is(err, context.Canceled) {
			errs[i] = nil
		}
	}
	return errors.Join(errs...)
}

// Every calls f every period until ctx ends, the first time one period
// after the start: a periodic resync, where the start does its own.
func Every(ctx context.Context, period time.Duration, f func(context.Context)) {
	// The poll ends only with ctx, and returns nothing but ctx's error.
	_ = wait.PollUntilContextCancel(ctx, period, false, func(ctx context.Context) (bool, error) {
		f(ctx)
		return false, nil
	})
}

// InTerm is reconcile as a term's workers run it. Once the term has ended
// they take no new action: the keys left in the queue are drained
// untouched. A reconcile that over says the term's end stopped (a fenced
// write, an action refused) is dropped, not retried, since the other
// replica owns the key now.
func InTerm(over func(error) bool, reconcile Reconcile) Reconcile {
	return func(ctx context.Context, key string) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := reconcile(ctx, key)
		if over(err) {
			return nil
		}
		return err
	}
}
