package leader_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/logtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Two replicas campaign; exactly one leads at any time, and when the leader
// stops, the other takes over.
func TestOneLeaderAndFailover(t *testing.T) {
	srv := etcdserver.Start(t)
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
	srv := etcdserver.Start(t)
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

// A leader whose term ends while etcd is away cannot revoke its lease then,
// and etcd renews every lease when it comes back: its old key would stand
// in front of every candidate for a whole TTL more. Its next campaign
// revokes it first, as soon as etcd answers.
func TestOldLeaseRevokedWhenEtcdIsBack(t *testing.T) {
	srv := etcdserver.Start(t)
	admin := srv.Client(t)
	var logs logtest.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	key := leader.ElectionKey("/t", "svc")
	var leads atomic.Int32
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// A client as the services make them (settings.NewClient), which
	// redials a member that went away at least every second.
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: 5 * time.Second, DialOptions: settings.ReconnectOptions()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	go func() {
		done <- leader.Run(ctx, leader.Config{Client: client, Key: key, Identity: "a", TTL: 5 * time.Second, Log: log},
			func(ctx context.Context) error {
				leads.Add(1)
				<-ctx.Done()
				return nil
			})
	}()
	eventually.True(t, 15*time.Second, "a leads", func() bool { return leads.Load() == 1 })
	resp, err := admin.Get(context.Background(), key+"/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("campaign keys: %v, %v", resp, err)
	}
	old := clientv3.LeaseID(resp.Kvs[0].Lease)

	srv.Stop()
	time.Sleep(12 * time.Second) // the term ends after 5 s, its revoke gives up after 5 more
	srv.Restart()
	eventually.True(t, 20*time.Second, "a leads again", func() bool { return leads.Load() == 2 })
	if want := fmt.Sprintf("old leadership lease revoked\" lease=%x", int64(old)); !strings.Contains(logs.String(), want) {
		t.Errorf("the old lease %x was not revoked when etcd came back; log:\n%s", int64(old), logs.String())
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("a: %v", err)
	}
}
