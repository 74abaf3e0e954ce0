package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

var errAway = errors.New("dependency away")

// awayFrom classifies the test's errors: errAway wrapped with a
// dependency's name waits on it.
func awayFrom(err error) (Dependency, bool) {
	var a awayErr
	if errors.As(err, &a) {
		return a.dep, true
	}
	return "", false
}

type awayErr struct{ dep Dependency }

func (e awayErr) Error() string { return fmt.Sprintf("%s: %v", e.dep, errAway) }

// recoveryRig runs a loop whose keys fail while their dependency is
// "down", with a backoff of a minute, so that any retry within the test is
// the recovery's doing.
type recoveryRig struct {
	q    Queue
	rec  *Recovery
	down sync.Map // Dependency → bool
	// fails names keys that fail with a plain error, not a dependency's.
	fails sync.Map

	mu    sync.Mutex
	calls map[string]int
}

func newRecoveryRig(t *testing.T) *recoveryRig {
	t.Helper()
	q := NewQueue("recovery-"+t.Name(), prometheus.NewRegistry(), QueueOptions{BaseDelay: time.Minute, MaxDelay: time.Minute})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &recoveryRig{q: q, rec: NewRecovery(q, log, awayFrom), calls: map[string]int{}}
	r.rec.Every = 20 * time.Millisecond
	return r
}

// dependencyOf is the test's convention: key "db-1" needs ConfigDB, "api-1"
// the Kubernetes API.
func dependencyOf(key string) Dependency {
	if key[:2] == "db" {
		return ConfigDB
	}
	return KubeAPI
}

func (r *recoveryRig) reconcile(_ context.Context, key string) error {
	r.mu.Lock()
	r.calls[key]++
	r.mu.Unlock()
	if _, bad := r.fails.Load(key); bad {
		return errors.New("bad entry, not an outage")
	}
	dep := dependencyOf(key)
	if down, _ := r.down.Load(dep); down == true {
		return awayErr{dep}
	}
	return nil
}

func (r *recoveryRig) check(dep Dependency) Check {
	return func(context.Context) error {
		if down, _ := r.down.Load(dep); down == true {
			return errAway
		}
		return nil
	}
}

func (r *recoveryRig) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[key]
}

func (r *recoveryRig) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Loop{Queue: r.q, Workers: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Reconcile: r.reconcile, Recovery: r.rec}.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loop: %v", err)
		}
	})
}

func waitCalls(t *testing.T, r *recoveryRig, key string, want int) {
	t.Helper()
	if err := eventually.Poll(context.Background(), 5*time.Second, 5*time.Millisecond, func(context.Context) error {
		if n := r.count(key); n < want {
			return fmt.Errorf("%s reconciled %d times, want %d", key, n, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRecoveryRequeuesWhenDependencyBack(t *testing.T) {
	r := newRecoveryRig(t)
	r.rec.Probe(ConfigDB, r.check(ConfigDB))
	r.rec.Probe(KubeAPI, r.check(KubeAPI))
	r.down.Store(ConfigDB, true)
	r.down.Store(KubeAPI, true)
	r.fails.Store("db-bad", true)
	r.run(t)
	for _, k := range []string{"db-1", "db-2", "api-1", "db-bad"} {
		r.q.Add(k)
	}
	for _, k := range []string{"db-1", "db-2", "api-1", "db-bad"} {
		waitCalls(t, r, k, 1)
	}
	if err := eventually.Poll(context.Background(), 5*time.Second, 5*time.Millisecond, func(context.Context) error {
		if n := r.rec.Waiting(ConfigDB); n != 2 {
			return fmt.Errorf("%d keys wait on the config DB, want 2 (db-bad failed for another reason)", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The config DB comes back: its keys go at once (their backoff is a
	// minute); the API's key and the key that failed for another reason
	// keep waiting.
	r.down.Store(ConfigDB, false)
	waitCalls(t, r, "db-1", 2)
	waitCalls(t, r, "db-2", 2)
	if n := r.rec.Waiting(ConfigDB); n != 0 {
		t.Errorf("%d keys still wait on the config DB after they succeeded", n)
	}
	if n := r.count("api-1"); n != 1 {
		t.Errorf("api-1 reconciled %d times while the API was away, want 1", n)
	}
	if n := r.count("db-bad"); n != 1 {
		t.Errorf("db-bad (not an outage) reconciled %d times, want 1: it keeps its backoff", n)
	}
	if n := r.q.NumRequeues("db-1"); n != 0 {
		t.Errorf("db-1 has %d requeues after it succeeded, want 0", n)
	}

	r.down.Store(KubeAPI, false)
	waitCalls(t, r, "api-1", 2)
}

// A key failing "because" of a dependency its probe finds well is not
// hurried: the probe must see the dependency away before it counts as back,
// or a misclassified error would be retried at every probe.
func TestRecoveryNeedsTheProbeToSeeTheOutage(t *testing.T) {
	r := newRecoveryRig(t)
	var probes atomic.Int32
	r.rec.Probe(KubeAPI, func(context.Context) error { probes.Add(1); return nil })
	r.down.Store(KubeAPI, true) // the reconcile fails; the probe says well
	r.run(t)
	r.q.Add("api-1")
	waitCalls(t, r, "api-1", 1)
	if err := eventually.Poll(context.Background(), 5*time.Second, 5*time.Millisecond, func(context.Context) error {
		if probes.Load() < 10 {
			return errors.New("fewer than 10 probes yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := r.count("api-1"); n != 1 {
		t.Errorf("api-1 reconciled %d times, want 1: the probe never saw the API away", n)
	}
	if n := r.rec.Waiting(KubeAPI); n != 1 {
		t.Errorf("%d keys wait on the API, want 1", n)
	}
}

// Without a probe, Back is the signal (a chart repository's index refresh
// that succeeds, say).
func TestRecoveryBack(t *testing.T) {
	r := newRecoveryRig(t)
	r.down.Store(KubeAPI, true)
	r.run(t)
	r.q.Add("api-1")
	waitCalls(t, r, "api-1", 1)
	if err := eventually.Poll(context.Background(), 5*time.Second, 5*time.Millisecond, func(context.Context) error {
		if r.rec.Waiting(KubeAPI) != 1 {
			return errors.New("api-1 not waiting yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := r.rec.Back(ConfigDB); n != 0 {
		t.Errorf("Back(ConfigDB) released %d keys, want 0", n)
	}
	r.down.Store(KubeAPI, false)
	if n := r.rec.Back(KubeAPI); n != 1 {
		t.Errorf("Back(KubeAPI) released %d keys, want 1", n)
	}
	waitCalls(t, r, "api-1", 2)
}
