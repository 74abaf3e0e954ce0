// Package leadertest gives tests a real term of leadership on a test etcd,
// and a way to end it in etcd as a lease expiring during a pause would.
//
// It lives in the etcdtest module, the one part of the test kit that
// requires shared, and only the services' tests import it; docs/architecture.md, §1. The rooms.
package leadertest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
)

// Term campaigns under key on client and returns the first term won, with
// its lead context (ended when the term ends) and lose, which revokes the
// term's lease: its election key goes, as when the lease expires while the
// process is paused. The election runs until the test ends.
func Term(t testing.TB, client *clientv3.Client, key string) (term *leader.Term, leadCtx context.Context, lose func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type led struct {
		term *leader.Term
		ctx  context.Context
	}
	first := make(chan led, 1)
	done := make(chan error, 1)
	var once sync.Once
	go func() {
		done <- leader.Run(ctx, leader.Config{Client: client, Key: key, Identity: t.Name(), TTL: 2 * time.Second,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, func(ctx context.Context) error {
			once.Do(func() { first <- led{leader.TermFrom(ctx), ctx} })
			<-ctx.Done()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("leader election: %v", err)
		}
	})
	var l led
	select {
	case l = <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("no term of leadership won within 30s")
	}
	lose = func() {
		t.Helper()
		resp, err := client.Get(context.Background(), l.term.Key())
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 0 {
			return
		}
		if _, err := client.Revoke(context.Background(), clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
			t.Fatal(err)
		}
	}
	return l.term, l.ctx, lose
}

// CheckEnded fails t unless term has ended, as a fenced write ends it: no
// longer valid, and its lead context done within 10 s.
func CheckEnded(t testing.TB, term *leader.Term, leadCtx context.Context) {
	t.Helper()
	if term.Valid() {
		t.Error("term still valid after a fenced write")
	}
	select {
	case <-leadCtx.Done():
	case <-time.After(10 * time.Second):
		t.Error("term's context not ended")
	}
}
