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
	clientv3 "go.etcd.io/etcd/client/v3"
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

// A standby whose lease dies while it waits (etcd away longer than the TTL
// ends it; here it is revoked) campaigns again with a new lease at once,
// rather than waiting on keys before one it no longer holds; and it takes
// over when the leader goes.
func TestStandbyLosesItsLeaseWhileWaiting(t *testing.T) {
	srv := etcdtest.Start(t)
	admin := srv.Client(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key := leader.ElectionKey("/t", "svc")
	var leaders sync.Map
	run := func(ctx context.Context, id string) chan error {
		done := make(chan error, 1)
		go func() {
			done <- leader.Run(ctx, leader.Config{Client: srv.Client(t), Key: key, Identity: id, TTL: 2 * time.Second, Log: log},
				func(ctx context.Context) error {
					leaders.Store(id, true)
					<-ctx.Done()
					leaders.Delete(id)
					return nil
				})
		}()
		return done
	}
	// The lease of id's campaign key, or 0.
	leaseOf := func(id string) clientv3.LeaseID {
		resp, err := admin.Get(context.Background(), key+"/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range resp.Kvs {
			if string(kv.Value) == id {
				return clientv3.LeaseID(kv.Lease)
			}
		}
		return 0
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	doneA := run(ctxA, "a")
	eventually.True(t, 15*time.Second, "a leads", func() bool { _, ok := leaders.Load("a"); return ok })
	doneB := run(ctxB, "b")
	eventually.True(t, 15*time.Second, "b campaigns", func() bool { return leaseOf("b") != 0 })
	first := leaseOf("b")
	if _, err := admin.Revoke(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "b campaigns again with a new lease", func() bool {
		l := leaseOf("b")
		return l != 0 && l != first
	})
	if _, ok := leaders.Load("b"); ok {
		t.Fatal("b leads while a does")
	}
	stopA()
	if err := <-doneA; err != nil {
		t.Errorf("a: %v", err)
	}
	eventually.True(t, 15*time.Second, "b leads", func() bool { _, ok := leaders.Load("b"); return ok })
	stopB()
	if err := <-doneB; err != nil {
		t.Errorf("b: %v", err)
	}
}
