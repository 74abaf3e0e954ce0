package controller

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"k8s.io/client-go/tools/cache"
)

// Term is a service's controller for one term of leadership: built when
// the term starts, run until it ends, then dropped with its work queue, so
// that nothing one term learnt leaks into the next.
type Term interface {
	// Ready reports whether the term has caught up (its first full list
	// is in); a leader is not ready before that.
	Ready(ctx context.Context) error
	// Run works until ctx ends.
	Run(ctx context.Context) error
}

// Informer is a cache that runs for the life of the process (so a standby
// replica stays warm) and whose events a term follows;
// cache.SharedIndexInformer is one.
type Informer interface {
	HasSynced() bool
	AddEventHandler(cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error)
	RemoveEventHandler(cache.ResourceEventHandlerRegistration) error
}

// Cache is a process-lifetime cache a term needs synced before it starts:
// an unsynced cache would look like objects that are gone.
type Cache struct {
	HasSynced cache.InformerSynced
	// NotSynced is the readiness error of a leader while the cache has
	// not synced.
	NotSynced string
}

// Watch is a term's event handler on a process-lifetime informer.
type Watch struct {
	// Name says which events, in errors.
	Name     string
	Informer Informer
	Handler  cache.ResourceEventHandler
}

// Spec is what a service supplies: the caches its terms need and how to
// build a term's controller; the Runtime does the rest.
type Spec[T Term] struct {
	// Caches are waited for at the start of every term, before Build.
	Caches []Cache
	// Build makes the term's controller once the caches have synced. An
	// error after ctx ended (the term was lost while building) is none.
	Build func(ctx context.Context) (T, error)
	// Watches, if set, are the term controller's event handlers.
	Watches func(T) []Watch
}

// errStarting is a leader's readiness error while its term is being built.
var errStarting = errors.New("starting")

// Runtime runs a service's controller term after term: the per-term shell
// the services share (readiness, cache sync, per-term event handlers, the
// controller of the current term).
type Runtime[T Term] struct {
	spec    Spec[T]
	leading atomic.Bool
	current atomic.Pointer[T] // of this term, nil between terms
}

// NewRuntime returns a runtime for spec; give its Lead to leader.Run and
// its Ready to the readiness checks.
func NewRuntime[T Term](spec Spec[T]) *Runtime[T] {
	return &Runtime[T]{spec: spec}
}

// Ready is the service's readiness: a standby replica is ready to take
// over; a leader is ready once its caches have synced and its term has
// caught up.
func (r *Runtime[T]) Ready(ctx context.Context) error {
	if !r.leading.Load() {
		return nil
	}
	for _, c := range r.spec.Caches {
		if !c.HasSynced() {
			return errors.New(c.NotSynced)
		}
	}
	t := r.current.Load()
	if t == nil {
		return errStarting
	}
	return (*t).Ready(ctx)
}

// Current returns the controller of the current term, if a term is
// running, for process-lifetime callbacks that nudge it.
func (r *Runtime[T]) Current() (T, bool) {
	var zero T
	// Nil until built: a service wires callbacks (chart index, release
	// index) that may fire before its runtime exists.
	if r == nil {
		return zero, false
	}
	if t := r.current.Load(); t != nil {
		return *t, true
	}
	return zero, false
}

// Lead runs one term of leadership until ctx ends. It returns nil when the
// term ends before or while it starts.
func (r *Runtime[T]) Lead(ctx context.Context) error {
	r.leading.Store(true)
	defer r.leading.Store(false)
	synced := make([]cache.InformerSynced, len(r.spec.Caches))
	for i, c := range r.spec.Caches {
		synced[i] = c.HasSynced
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil
	}
	t, err := r.spec.Build(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if r.spec.Watches != nil {
		for _, w := range r.spec.Watches(t) {
			// A handler added to a running informer is first given every
			// cached object, so the term starts from the whole cache and
			// then follows it.
			reg, err := w.Informer.AddEventHandler(w.Handler)
			if err != nil {
				return fmt.Errorf("%s events: %w", w.Name, err)
			}
			// Removal fails only once the informer has stopped, and then
			// there is nothing left to remove the handler from.
			defer func() { _ = w.Informer.RemoveEventHandler(reg) }()
		}
	}
	r.current.Store(&t)
	defer r.current.Store(nil)
	return t.Run(ctx)
}
