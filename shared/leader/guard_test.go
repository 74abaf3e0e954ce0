// Tests of the write guard a term gives the Kubernetes client, and of
// the leader gauge at the end of a term.

package leader

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// The guard refuses writes before any term, lets them through while the
// term is valid or when there is none (election off), and refuses them
// once the term has ended, until the next is entered.
func TestGuard(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Unix(1000, 0))
	term, _ := handTerm(fc, 10*time.Second, answer(10))
	if err := term.renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	ended, _ := handTerm(fc, 10*time.Second, answer(10))
	ended.end("test")
	tests := []struct {
		name    string
		enter   bool
		term    *Term
		refused bool
	}{
		{name: "no term yet", refused: true},
		{name: "election off", enter: true},
		{name: "valid term", enter: true, term: term},
		{name: "ended term", enter: true, term: ended, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGuard(nil)
			if tt.enter {
				g.Enter(tt.term)
			}
			err := g.CheckWrite()
			if tt.refused != (err != nil) {
				t.Fatalf("CheckWrite = %v, refused want %v", err, tt.refused)
			}
			if err != nil && !errors.Is(err, ErrNotLeader) {
				t.Errorf("refusal %v does not wrap ErrNotLeader", err)
			}
		})
	}
}

// The check every mutating request of the Helm client makes: local, no
// round trip.
func BenchmarkGuardCheckWrite(b *testing.B) {
	term, _ := handTerm(clocktesting.NewFakeClock(time.Unix(1000, 0)), 10*time.Second, answer(10))
	if err := term.renew(context.Background()); err != nil {
		b.Fatal(err)
	}
	g := NewGuard(nil)
	g.Enter(term)
	for b.Loop() {
		if err := g.CheckWrite(); err != nil {
			b.Fatal(err)
		}
	}
}

// The leader gauge drops as soon as the term ends, while the lead function
// is still winding down, and the next term sets it again.
func TestLeaderGaugeDropsAtTermEnd(t *testing.T) {
	srv := etcdserver.Start(t)
	client := srv.Client(t)
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "leader"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	terms := make(chan *Term, 4)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Client: client, Key: ElectionKey("/gauge", "svc"), Identity: "me", TTL: 2 * time.Second, Log: discard(), IsLeader: gauge},
			func(ctx context.Context) error {
				terms <- TermFrom(ctx)
				<-ctx.Done()
				// Winding down takes a while (informers, an action cut short).
				select {
				case <-release:
				case <-time.After(30 * time.Second):
				}
				return nil
			})
	}()
	term := <-terms
	if got := testutil.ToFloat64(gauge); got != 1 {
		t.Fatalf("gauge while leading = %v, want 1", got)
	}
	if _, err := client.Revoke(context.Background(), term.lease); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 10*time.Second, "gauge 0 while the lead function winds down", func() bool { return testutil.ToFloat64(gauge) == 0 })
	close(release)
	select {
	case <-terms:
		if got := testutil.ToFloat64(gauge); got != 1 {
			t.Errorf("gauge in the next term = %v, want 1", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no next term")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
