package leader_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// Two replicas campaign; exactly one leads at any time, and when the leader
// stops, the other takes over.
func TestOneLeaderAndFailover(t *testing.T) {
	srv := etcdtest.Start(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var leading atomic.Int32
	var maxLeading atomic.Int32
	var leaders sync.Map
	run := func(ctx context.Context, id string) chan error {
		done := make(chan error, 1)
		go func() {
			done <- leader.Run(ctx, leader.Config{
				Client: srv.Client(t), Key: leader.ElectionKey("/t", "svc"), Identity: id, TTL: 2 * time.Second, Log: log,
			}, func(ctx context.Context) error {
				n := leading.Add(1)
				if n > maxLeading.Load() {
					maxLeading.Store(n)
				}
				leaders.Store(id, true)
				<-ctx.Done()
				leading.Add(-1)
				return nil
			})
		}()
		return done
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneA := run(ctxA, "a")
	eventually.True(t, 15*time.Second, "one leader", func() bool { return leading.Load() == 1 })
	doneB := run(ctxB, "b")
	time.Sleep(500 * time.Millisecond)
	if _, ok := leaders.Load("b"); ok {
		t.Fatal("b leads while a does")
	}
	start := time.Now()
	stopA()
	if err := <-doneA; err != nil {
		t.Errorf("a: %v", err)
	}
	eventually.True(t, 15*time.Second, "b leads", func() bool { _, ok := leaders.Load("b"); return ok })
	t.Logf("failover after a clean stop: %v", time.Since(start))
	if maxLeading.Load() != 1 {
		t.Errorf("%d leaders at once", maxLeading.Load())
	}
	stopB()
	if err := <-doneB; err != nil {
		t.Errorf("b: %v", err)
	}
}
