package controller

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Dependency names something outside a service that its work may wait on.
type Dependency string

// The dependencies the services wait on.
const (
	ConfigDB  Dependency = "config-db"
	KubeAPI   Dependency = "kube-api"
	ChartRepo Dependency = "chart-repo"
)

// Check answers nil when a dependency is reachable.
type Check func(ctx context.Context) error

// Recovery remembers the keys that wait out their backoff because a
// dependency was away, so that they are worked again as soon as it is back
// rather than when their backoff ends: after an outage of 30 s the backoff
// of a key that failed all along has grown to the queue's maximum, and
// without this the work would sit for up to that long after the dependency
// returned. It stays level-triggered: a key is only queued again (its
// backoff forgotten), and its reconcile decides afresh.
//
// A dependency is seen back when its probe succeeds after the probe has
// seen it away. A key's own failure does not count as "seen away": an
// error taken for an outage while the probe finds the dependency well
// (misclassified, or a fault the probe does not see) then keeps its
// ordinary backoff instead of being retried at every probe.
type Recovery struct {
	waitsOn func(error) (Dependency, bool)
	queue   Queue
	log     *slog.Logger

	// Every is how often a dependency is probed while keys wait on it;
	// Timeout bounds one probe. Set them before Run.
	Every, Timeout time.Duration

	mu      sync.Mutex
	probes  map[Dependency]Check
	waiting map[Dependency]map[string]struct{}
	// noted wakes a dependency's prober when the first key waits on it.
	noted map[Dependency]chan struct{}
}

// NewRecovery returns the recovery of q's keys. waitsOn says which
// dependency, being away, made a reconcile fail (false: none, the key
// keeps its backoff).
func NewRecovery(q Queue, log *slog.Logger, waitsOn func(error) (Dependency, bool)) *Recovery {
	return &Recovery{
		waitsOn: waitsOn, queue: q, log: log,
		Every: 500 * time.Millisecond, Timeout: 2 * time.Second,
		probes:  map[Dependency]Check{},
		waiting: map[Dependency]map[string]struct{}{},
		noted:   map[Dependency]chan struct{}{},
	}
}

// NewConfigDBRecovery is the recovery of a service whose work waits on the
// config DB alone (the pod-monitor's and the resource-monitor's writes): a
// key whose write failed because it was away, or did not answer in time,
// goes again as soon as store answers. A nil store (unit tests) is not
// probed.
func NewConfigDBRecovery(q Queue, log *slog.Logger, store *configdb.Store) *Recovery {
	rec := NewRecovery(q, log, func(err error) (Dependency, bool) {
		return ConfigDB, configdb.IsUnavailable(err)
	})
	if store != nil {
		rec.Probe(ConfigDB, store.Ping)
	}
	return rec
}

// NewConfigDBWork is a term's work queue (NewQueue) with its
// NewConfigDBRecovery: the two monitors build their terms alike.
func NewConfigDBWork(name string, reg prometheus.Registerer, opts QueueOptions, log *slog.Logger, store *configdb.Store) (Queue, *Recovery) {
	q := NewQueue(name, reg, opts)
	return q, NewConfigDBRecovery(q, log, store)
}

// Probe sets how dep is checked while keys wait on it. Without a probe,
// only Back releases the keys waiting on dep.
func (r *Recovery) Probe(dep Dependency, check Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.probes[dep] = check
	r.wakeup(dep)
}

// wakeup returns dep's wake-up channel. r.mu is held.
func (r *Recovery) wakeup(dep Dependency) chan struct{} {
	ch, ok := r.noted[dep]
	if !ok {
		ch = make(chan struct{}, 1)
		r.noted[dep] = ch
	}
	return ch
}

// failed notes key's failure: it waits on the dependency err names, or on
// none.
func (r *Recovery) failed(key string, err error) {
	if r == nil {
		return
	}
	dep, away := r.waitsOn(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(key)
	if !away {
		return
	}
	keys, ok := r.waiting[dep]
	if !ok {
		keys = map[string]struct{}{}
		r.waiting[dep] = keys
	}
	keys[key] = struct{}{}
	select {
	case r.wakeup(dep) <- struct{}{}:
	default:
	}
}

// done notes that key waits on nothing any more (it succeeded, or failed
// for good).
func (r *Recovery) done(key string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(key)
}

func (r *Recovery) forgetLocked(key string) {
	for dep, keys := range r.waiting {
		delete(keys, key)
		if len(keys) == 0 {
			delete(r.waiting, dep)
		}
	}
}

// Waiting returns how many keys wait on dep.
func (r *Recovery) Waiting(dep Dependency) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waiting[dep])
}

// Back says that dep is reachable again: every key waiting on it loses
// its backoff and is queued at once. It returns how many were.
func (r *Recovery) Back(dep Dependency) int {
	r.mu.Lock()
	keys := r.waiting[dep]
	delete(r.waiting, dep)
	r.mu.Unlock()
	for key := range keys {
		// The delayed add of the backoff still comes; it finds the key
		// done (or queued) and costs at most one more look.
		r.queue.Forget(key)
		r.queue.Add(key)
	}
	if len(keys) > 0 {
		r.log.Info("dependency back; retrying the work that waited on it", "dependency", string(dep), "keys", len(keys))
	}
	return len(keys)
}

// run probes each dependency that has a probe while keys wait on it, until
// ctx ends.
func (r *Recovery) run(ctx context.Context) {
	r.mu.Lock()
	probes := make(map[Dependency]Check, len(r.probes))
	wake := make(map[Dependency]chan struct{}, len(r.probes))
	for dep, check := range r.probes {
		probes[dep], wake[dep] = check, r.wakeup(dep)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for dep, check := range probes {
		wg.Go(func() { r.watch(ctx, dep, check, wake[dep]) })
	}
	wg.Wait()
}

// watch is one dependency's prober: idle while no key waits on it.
func (r *Recovery) watch(ctx context.Context, dep Dependency, check Check, wake <-chan struct{}) {
	t := time.NewTicker(r.Every)
	defer t.Stop()
	sawAway := false
	for {
		if r.Waiting(dep) == 0 {
			// What was seen before the idle spell says nothing of the next
			// outage.
			sawAway = false
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
		}
		pctx, cancel := context.WithTimeout(ctx, r.Timeout)
		err := check(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !sawAway {
				r.log.Debug("dependency away; work waits for it", "dependency", string(dep), "error", err)
			}
			sawAway = true
		case sawAway:
			sawAway = false
			r.Back(dep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
