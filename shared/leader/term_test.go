package leader

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
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// handTerm is a term built without an election, on a fake clock, whose
// keep-alives keepAlive answers.
func handTerm(fc *clocktesting.FakeClock, ttl time.Duration,
	keepAlive func(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error)) (*Term, context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Config{Identity: "me", Log: discard(), clock: fc, keepAliveOnce: keepAlive}
	return newTermFor(cfg, "key", 1, 1, ttl, cancel, ctx.Done()), ctx
}

func answer(ttl int64) func(context.Context, clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
	return func(context.Context, clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
		return &clientv3.LeaseKeepAliveResponse{TTL: ttl}, nil
	}
}

// The local deadline is the send time of the last answered keep-alive,
// plus the TTL etcd granted (no more than asked), less the margin (a tenth
// of the TTL); once it passes Valid is false and the term ends.
func TestTermDeadline(t *testing.T) {
	errAway := errors.New("etcd away")
	tests := []struct {
		name      string
		ttl       time.Duration
		keepAlive func(context.Context, clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error)
		// answerAfter is how far the clock moves between the send and
		// the answer.
		answerAfter time.Duration
		renewErr    error
		// validUntil is the deadline, from the start; 0: never valid.
		validUntil time.Duration
	}{
		{name: "answered at once", ttl: 10 * time.Second, keepAlive: answer(10), validUntil: 9 * time.Second},
		{name: "answered late: counted from the send", ttl: 10 * time.Second, keepAlive: answer(10),
			answerAfter: 4 * time.Second, validUntil: 9 * time.Second},
		{name: "shorter TTL granted", ttl: 10 * time.Second, keepAlive: answer(4), validUntil: 3 * time.Second},
		{name: "longer TTL granted than asked", ttl: 10 * time.Second, keepAlive: answer(60), validUntil: 9 * time.Second},
		{name: "short TTL: margin of at least 100ms", ttl: 500 * time.Millisecond, keepAlive: answer(1), validUntil: 400 * time.Millisecond},
		{name: "keep-alive failed", ttl: 10 * time.Second,
			keepAlive: func(context.Context, clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) { return nil, errAway },
			renewErr:  errAway},
		{name: "lease gone", ttl: 10 * time.Second,
			keepAlive: func(context.Context, clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
				return nil, rpctypes.ErrLeaseNotFound
			},
			renewErr: rpctypes.ErrLeaseNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1000, 0)
			fc := clocktesting.NewFakeClock(start)
			keepAlive := tt.keepAlive
			if tt.answerAfter > 0 {
				keepAlive = func(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
					// A pause between the send and the answer.
					fc.Step(tt.answerAfter)
					return tt.keepAlive(ctx, id)
				}
			}
			term, leadCtx := handTerm(fc, tt.ttl, keepAlive)
			if err := term.renew(context.Background()); !errors.Is(err, tt.renewErr) || (err == nil) != (tt.renewErr == nil) {
				t.Fatalf("renew = %v, want %v", err, tt.renewErr)
			}
			if tt.validUntil > 0 {
				fc.SetTime(start.Add(tt.validUntil - time.Millisecond))
				if !term.Valid() {
					t.Fatalf("not valid %v after the send, before the deadline", tt.validUntil-time.Millisecond)
				}
				if leadCtx.Err() != nil {
					t.Fatal("term ended before its deadline")
				}
			}
			fc.SetTime(start.Add(tt.validUntil))
			if term.Valid() {
				t.Fatalf("valid %v after the send, at the deadline", tt.validUntil)
			}
			if leadCtx.Err() == nil {
				t.Error("Valid turned false and the term did not end")
			}
			if err := term.Check(context.Background()); !errors.Is(err, ErrNotLeader) {
				t.Errorf("Check after the end = %v, want ErrNotLeader", err)
			}
			// Valid stays false even if a keep-alive is answered now.
			if err := term.renew(context.Background()); err == nil && term.Valid() {
				t.Error("an ended term became valid again")
			}
		})
	}
}

// runTerm runs leader.Run on etcd with the fake clock and keep-alive hook,
// and returns the term of the first lead call and that call's context.
func runTerm(t *testing.T, fc *clocktesting.FakeClock, hook func(ctx context.Context, id clientv3.LeaseID, n int) (*clientv3.LeaseKeepAliveResponse, error)) (*etcdserver.Server, *clientv3.Client, *Term, context.Context) {
	t.Helper()
	srv := etcdserver.Start(t)
	client := srv.Client(t)
	var calls atomic.Int32
	cfg := Config{Client: client, Key: ElectionKey("/t", "svc"), Identity: "me", TTL: 3 * time.Second, Log: discard(), clock: fc,
		keepAliveOnce: func(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error) {
			return hook(ctx, id, int(calls.Add(1)))
		}}
	ctx, cancel := context.WithCancel(context.Background())
	type led struct {
		term *Term
		ctx  context.Context
	}
	first := make(chan led, 1)
	done := make(chan error, 1)
	var once sync.Once
	go func() {
		done <- Run(ctx, cfg, func(ctx context.Context) error {
			once.Do(func() { first <- led{TermFrom(ctx), ctx} })
			<-ctx.Done()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case l := <-first:
		if l.term == nil {
			t.Fatal("lead called without a term")
		}
		return srv, client, l.term, l.ctx
	case <-time.After(20 * time.Second):
		t.Fatal("never led")
	}
	return nil, nil, nil, nil
}

// waitersAtLeast waits until the term's keep-alive and expiry loops both
// wait on the fake clock, so that a step reaches them.
func waitersAtLeast(t *testing.T, fc *clocktesting.FakeClock, n int) {
	t.Helper()
	eventually.True(t, 10*time.Second, "the term's loops to wait on the clock", func() bool { return fc.Waiters() >= n })
}

// While keep-alives are sent and answered every TTL/3 the term stays valid
// well past its TTL; when they stop being sent (a paused keep-alive loop)
// Valid turns false at the deadline, the lead context ends, and the term
// refuses to act.
func TestTermNeedsKeepAlives(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		fc := clocktesting.NewFakeClock(time.Now())
		var sent atomic.Int32
		_, _, term, leadCtx := runTerm(t, fc, func(ctx context.Context, id clientv3.LeaseID, n int) (*clientv3.LeaseKeepAliveResponse, error) {
			defer sent.Store(int32(n))
			return &clientv3.LeaseKeepAliveResponse{TTL: 3}, nil
		})
		for i := range 9 { // 9 s: three times the TTL
			waitersAtLeast(t, fc, 2)
			fc.Step(time.Second)
			eventually.True(t, 10*time.Second, "the keep-alive of this step", func() bool { return int(sent.Load()) >= i+2 })
			if !term.Valid() {
				t.Fatalf("invalid after %d s of answered keep-alives", i+1)
			}
		}
		if leadCtx.Err() != nil {
			t.Error("term ended while its keep-alives were answered")
		}
	})
	t.Run("stopped", func(t *testing.T) {
		fc := clocktesting.NewFakeClock(time.Now())
		_, _, term, leadCtx := runTerm(t, fc, func(ctx context.Context, id clientv3.LeaseID, n int) (*clientv3.LeaseKeepAliveResponse, error) {
			if n == 1 {
				return &clientv3.LeaseKeepAliveResponse{TTL: 3}, nil
			}
			<-ctx.Done() // paused: never answered
			return nil, ctx.Err()
		})
		waitersAtLeast(t, fc, 2)
		fc.Step(2700*time.Millisecond - time.Millisecond)
		if !term.Valid() {
			t.Fatal("invalid before the deadline")
		}
		fc.Step(time.Millisecond)
		if term.Valid() {
			t.Fatal("valid at the deadline with no keep-alive answered")
		}
		select {
		case <-leadCtx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("lead context not ended at the deadline")
		}
		if err := term.Check(context.Background()); !errors.Is(err, ErrNotLeader) {
			t.Errorf("Check = %v, want ErrNotLeader", err)
		}
		if !term.Over(configdb.ErrFenced) || term.Over(errors.New("other")) {
			t.Error("Over does not tell a fenced write from another error")
		}
	})
}

// When the lease is lost in etcd (revoked here, as when it expires during a
// pause), Check says so, a fenced config DB write is refused and writes
// nothing, and the lead context ends.
func TestTermLeaseLost(t *testing.T) {
	srv := etcdserver.Start(t)
	client := srv.Client(t)
	store, err := configdb.NewStore(client, "/fence")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(prometheus.NewRegistry())
	store.SetWriteObserver(m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	terms := make(chan *Term, 4)
	ctxs := make(chan context.Context, 4)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Client: client, Key: ElectionKey("/fence", "svc"), Identity: "me", TTL: 2 * time.Second, Log: discard(), Metrics: m},
			func(ctx context.Context) error {
				terms <- TermFrom(ctx)
				ctxs <- ctx
				<-ctx.Done()
				return nil
			})
	}()
	term, leadCtx := <-terms, <-ctxs
	fenced := store.Fenced(term)
	c := context.Background()
	if err := term.Check(c); err != nil {
		t.Fatalf("Check while leading: %v", err)
	}
	if !term.Valid() {
		t.Fatal("not valid while leading")
	}
	if err := fenced.PutDeployment(c, configdb.Deployment{ID: "d", Kind: "helm", Chart: "a"}); err != nil {
		t.Fatalf("fenced write while leading: %v", err)
	}
	written := m.lastWrite.Load()
	if written == 0 {
		t.Error("last write revision not recorded")
	}

	if _, err := client.Revoke(c, term.lease); err != nil {
		t.Fatal(err)
	}
	if err := term.Check(c); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Check after the lease was revoked = %v, want ErrNotLeader", err)
	}
	if err := fenced.PutDeployment(c, configdb.Deployment{ID: "d", Kind: "helm", Chart: "b"}); !errors.Is(err, configdb.ErrFenced) {
		t.Errorf("fenced write after the lease was revoked = %v, want ErrFenced", err)
	}
	if d, _, err := store.GetDeployment(c, "d"); err != nil || d.Chart != "a" {
		t.Errorf("entry after the fenced write: %+v %v; want chart a", d, err)
	}
	if got := m.lastWrite.Load(); got != written {
		t.Errorf("last write revision moved from %d to %d", written, got)
	}
	select {
	case <-leadCtx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("lead context not ended after the lease was lost")
	}
	if term.Valid() {
		t.Error("ended term still valid")
	}
	// Run campaigns again: the next term has a new key.
	select {
	case next := <-terms:
		if next.Key() == term.Key() || next.Rev() <= term.Rev() {
			t.Errorf("next term %s@%d, previous %s@%d", next.Key(), next.Rev(), term.Key(), term.Rev())
		}
		if err := store.Fenced(term).PutDeployment(c, configdb.Deployment{ID: "d", Kind: "helm", Chart: "c"}); !errors.Is(err, configdb.ErrFenced) {
			t.Errorf("old term's write during the next term = %v, want ErrFenced", err)
		}
		if err := store.Fenced(next).PutDeployment(c, configdb.Deployment{ID: "d", Kind: "helm", Chart: "c"}); err != nil {
			t.Errorf("next term's write: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no next term")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
