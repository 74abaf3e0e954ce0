// Package controller is the controller runtime the services share, after
// cert-manager's base controller: a service supplies its caches, how to
// build a term's controller and that controller's reconcile and sources;
// the runtime holds the rest once. Runtime is the per-term shell
// (readiness, cache sync, event handlers registered for the term); Loop is
// a term's work (sources feeding a rate-limited queue, a first-list Gate,
// workers draining the queue, level-triggered, failures retried with
// per-key exponential backoff).
//
// It sits under each service's per-term controller (the reconciler, the
// monitor, the mirror) and knows nothing of what they reconcile. Why
// terms, level-triggered queues and recovery: docs/architecture.md, §5. Why it is built this way; the work that waits
// on a dependency: docs/architecture.md, §4. From an entry to a release and a state, step 5.
package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Queue is a rate-limited work queue of keys (deployment ids, NAD names).
// The queue guarantees that one key is never processed by two workers at
// once, which serialises each key's actions, while different keys run in
// parallel.
type Queue = workqueue.TypedRateLimitingInterface[string]

// ErrPermanent marks a failure that retrying cannot fix (a bad entry, a
// chart that renders objects outside the namespace). Such keys are not
// requeued; the next change of their input brings them back.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that the worker loop does not retry it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// QueueOptions tune a queue's retry backoff.
type QueueOptions struct {
	// BaseDelay and MaxDelay bound the per-key exponential backoff.
	BaseDelay, MaxDelay time.Duration
}

// NewQueue returns a queue whose metrics (depth, adds, latency, work
// duration, retries) are registered on reg under the queue's name.
func NewQueue(name string, reg prometheus.Registerer, opts QueueOptions) Queue {
	if opts.BaseDelay == 0 {
		opts.BaseDelay = 50 * time.Millisecond
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 5 * time.Minute
	}
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](opts.BaseDelay, opts.MaxDelay),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name, MetricsProvider: newMetricsProvider(reg)},
	)
}

// Reconcile handles one key; a nil error forgets its backoff.
type Reconcile func(ctx context.Context, key string) error

// RunWorkers drains q with n workers until ctx ends, then shuts the queue
// down and waits for the workers. Failed keys are requeued with backoff
// unless the error is permanent; every failure is logged with its key.
func RunWorkers(ctx context.Context, q Queue, n int, log *slog.Logger, reconcile Reconcile) {
	runWorkers(ctx, q, n, log, reconcile, nil)
}

// runWorkers is RunWorkers that notes, in rec if set, which failed keys
// wait on a dependency that is away.
func runWorkers(ctx context.Context, q Queue, n int, log *slog.Logger, reconcile Reconcile, rec *Recovery) {
	var wg sync.WaitGroup
	for range max(n, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for processNext(ctx, q, log, reconcile, rec) {
			}
		}()
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}

func processNext(ctx context.Context, q Queue, log *slog.Logger, reconcile Reconcile, rec *Recovery) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	err := reconcile(ctx, key)
	switch {
	case err == nil:
		q.Forget(key)
		rec.done(key)
	case ctx.Err() != nil:
		// Shutting down: the next leader reconciles everything anyway.
	case errors.Is(err, ErrPermanent):
		q.Forget(key)
		rec.done(key)
		log.Warn("reconcile failed; not retrying until the input changes", "key", key, "error", err)
	default:
		// Noted before the requeue, so that a Back racing with it finds
		// the key.
		rec.failed(key, err)
		log.Warn("reconcile failed; retrying", "key", key, "error", err, "retries", q.NumRequeues(key))
		q.AddRateLimited(key)
	}
	return true
}
