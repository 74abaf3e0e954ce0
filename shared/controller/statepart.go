package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// StatePart is what a service keeps of its own part of the state entries
// (the release part, the pods and reasons part), the same for every
// service that writes one (docs/architecture.md, §3. Who owns which key):
//
//   - what it last wrote, per deployment (W), so that a part unchanged
//     since costs no config DB read or write;
//   - what it means the part to hold (I), remembered before the write,
//     so that the write's echo, which may arrive before the write call
//     returns, is known as its own;
//   - a watch of the state entries, through which a part deleted or
//     overwritten by someone else is written again within moments: a change
//     whose part differs from what was meant puts the deployment on the
//     queue, where the service's ordinary reconcile repairs it. The other
//     services' writes of their own parts are let be.
//
// Its lock is its own and is never held while the service's hooks run.
type StatePart[W, I any] struct {
	cfg      StatePartConfig[I]
	mu       sync.Mutex
	written  map[string]W
	intended map[string]I
}

// StatePartConfig says what a service's part is.
type StatePartConfig[I any] struct {
	// Name names the part in log lines ("release part", "pods or reasons part").
	Name  string
	Log   *slog.Logger
	Store *configdb.Store
	// Queue is where a deployment whose part must be written again goes.
	Queue Queue
	// Owned reports whether the service keeps a part for the deployment
	// now (it has an entry the service looks after). A state entry of a
	// deployment without one is removed through the service's own
	// reconcile, not repaired.
	Owned func(id string) bool
	// Keys lists every deployment the service keeps a part for, to look at
	// again after a gap in the watch.
	Keys func() []string
	// Part extracts the service's part from a decodable state entry change
	// (ch.Found is false for a deleted entry); ok is false when the entry
	// holds no part the service could have meant.
	Part func(configdb.StateChange) (part I, ok bool)
	// Same compares two parts as the service means them.
	Same func(a, b I) bool
}

// NewStatePart returns an empty StatePart.
func NewStatePart[W, I any](cfg StatePartConfig[I]) *StatePart[W, I] {
	return &StatePart[W, I]{cfg: cfg, written: map[string]W{}, intended: map[string]I{}}
}

// Written returns what was last written for id.
func (p *StatePart[W, I]) Written(id string) (W, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.written[id]
	return w, ok
}

// SetWritten records w as written (or found equal) for id.
func (p *StatePart[W, I]) SetWritten(id string, w W) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.written[id] = w
}

// Unwrite forgets what was written for id, so that its next reconcile
// reads and writes the part again.
func (p *StatePart[W, I]) Unwrite(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.written, id)
}

// UnwriteAll forgets every write: after a gap in which any part may have
// changed unseen, and when a new term starts.
func (p *StatePart[W, I]) UnwriteAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.written = map[string]W{}
}

// Intended returns what the service means id's part to hold.
func (p *StatePart[W, I]) Intended(id string) (I, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.intended[id]
	return i, ok
}

// Intend records what the service means id's part to hold; it is called
// before the write.
func (p *StatePart[W, I]) Intend(id string, part I) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.intended[id] = part
}

// Forget drops everything kept for id, whose state entry is gone or is
// no longer the service's to keep.
func (p *StatePart[W, I]) Forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.intended, id)
	delete(p.written, id)
}

// Watch follows the state entries until ctx ends: a Source of the term's
// Loop.
func (p *StatePart[W, I]) Watch(ctx context.Context) error {
	if err := p.cfg.Store.WatchStates(ctx, configdb.StateWatch{OnResync: p.onResync, OnChange: p.onChange}); err != nil {
		return fmt.Errorf("watch state entries: %w", err)
	}
	return nil
}

// onResync: after a gap in the watch any part may have changed unseen, so
// every deployment's part is looked at again. At the start the service's
// first list of the deployments does that.
func (p *StatePart[W, I]) onResync(reason string) {
	if reason == configdb.ResyncStart {
		return
	}
	p.UnwriteAll()
	for _, id := range p.cfg.Keys() {
		p.cfg.Queue.Add(id)
	}
}

func (p *StatePart[W, I]) onChange(ch configdb.StateChange) {
	// A deployment without an entry has its state entry removed by the
	// service's own reconcile; one not written yet in this term is on its
	// way.
	if !p.cfg.Owned(ch.ID) {
		return
	}
	var got I
	ok := ch.Err == nil
	if ok {
		got, ok = p.cfg.Part(ch)
	}
	p.mu.Lock()
	want, meant := p.intended[ch.ID]
	if meant && ok && p.cfg.Same(got, want) {
		p.mu.Unlock()
		return
	}
	delete(p.written, ch.ID)
	p.mu.Unlock()
	p.cfg.Log.Info("state entry's "+p.cfg.Name+" changed by someone else; writing it again", "deployment", ch.ID,
		"found", ch.Found, "revision", ch.Revision)
	p.cfg.Queue.Add(ch.ID)
}
