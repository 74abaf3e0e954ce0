package controller

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

func TestRunWorkersRetriesAndSerialises(t *testing.T) {
	reg := prometheus.NewRegistry()
	q := NewQueue("test", reg, QueueOptions{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond})
	q2 := NewQueue("other", reg, QueueOptions{}) // shares the registry
	defer q2.ShutDown()
	var mu sync.Mutex
	calls := map[string]int{}
	var inFlight sync.Map
	var overlap atomic.Bool
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		RunWorkers(ctx, q, 4, slog.New(slog.NewTextHandler(io.Discard, nil)), func(ctx context.Context, key string) error {
			if _, busy := inFlight.LoadOrStore(key, true); busy {
				overlap.Store(true)
			}
			defer inFlight.Delete(key)
			time.Sleep(time.Millisecond)
			mu.Lock()
			calls[key]++
			n := calls[key]
			mu.Unlock()
			switch {
			case key == "flaky" && n < 3:
				return errors.New("try again")
			case key == "bad":
				return Permanent(errors.New("bad entry"))
			}
			return nil
		})
		close(done)
	}()
	for range 20 {
		q.Add("busy")
	}
	q.Add("flaky")
	q.Add("bad")
	// Waits until the expected calls are in (or 5 s pass); the checks below
	// say what is wrong if they never come.
	_ = eventually.Poll(context.Background(), 5*time.Second, 5*time.Millisecond, func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if calls["flaky"] == 3 && calls["bad"] == 1 && calls["busy"] >= 1 {
			return nil
		}
		return errors.New("calls not in yet")
	})
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if calls["flaky"] != 3 || calls["bad"] != 1 {
		t.Errorf("calls %v: flaky should be retried until it succeeds, bad never retried", calls)
	}
	if overlap.Load() {
		t.Error("one key processed by two workers at once")
	}
	q2.Add("x")
	if got := testutil.ToFloat64(newMetricsProvider(reg).depth.WithLabelValues("other")); got != 1 {
		t.Errorf("second queue's depth metric = %v, want 1", got)
	}
	if got := testutil.CollectAndCount(reg, "sdp_helmdeploy_workqueue_retries_total"); got == 0 {
		t.Error("no retry metric")
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}
