package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/utils/clock"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// ErrNotLeader is returned (wrapped) by whatever a term refuses to do
// because the term is over: its election key is gone or is another's, or the
// term ended locally.
var ErrNotLeader = errors.New("not leader")

// errTermEnded is what a write attempted after the end of the term gets:
// the other replica may be acting on the same release by now.
var errTermEnded = fmt.Errorf("%w: term ended; the other replica owns this release now", ErrNotLeader)

// Term is one term of leadership: the election key this process holds and
// the revision that created it. It fences the work of the term: config DB
// writes carry Cmp in their transaction, actions outside etcd are preceded by
// Check, and every request that changes something outside etcd asks Valid.
// A nil *Term is no term at all (leader election off): unfenced, always
// valid.
type Term struct {
	client   *clientv3.Client
	key      string
	rev      int64
	lease    clientv3.LeaseID
	identity string
	ttl      time.Duration
	margin   time.Duration
	clock    clock.WithTicker
	log      *slog.Logger
	metrics  *Metrics
	// keepAliveOnce renews the lease (the client's, but for tests).
	keepAliveOnce func(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error)

	// start is the clock reading the deadline counts from; deadline is
	// how long after start the term is trusted without hearing from etcd.
	start    time.Time
	deadline atomic.Int64
	ended    atomic.Bool
	endOnce  sync.Once
	overOnce sync.Once
	cancel   context.CancelFunc
	done     <-chan struct{}
}

type termKey struct{}

// TermFrom returns the term of leadership a lead function runs in, or nil
// when the service runs without leader election.
func TermFrom(ctx context.Context) *Term {
	t, _ := ctx.Value(termKey{}).(*Term)
	return t
}

// WithTerm returns ctx carrying t, for tests and programs that run a lead
// function themselves.
func WithTerm(ctx context.Context, t *Term) context.Context {
	return context.WithValue(ctx, termKey{}, t)
}

// Key is the election key this term holds.
func (t *Term) Key() string { return t.key }

// Rev is the create revision of the election key: it names the term.
func (t *Term) Rev() int64 { return t.rev }

// Cmp is the condition a config DB write of the term carries in its
// transaction: the election key is still the one this term created. A
// deleted key (the lease expired) or a new one fails it.
func (t *Term) Cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(t.key), "=", t.rev)
}

// Fence is the term as the condition of config DB writes
// (configdb.Store.Fenced); nil for no term, whose writes are unfenced.
func (t *Term) Fence() configdb.Fence {
	if t == nil {
		return nil
	}
	return t
}

// Check asks etcd, with a linearizable read, whether the term still holds.
// It returns an error wrapping ErrNotLeader when the key is gone or is not
// this term's, or the term has ended locally, and another error when etcd
// could not say (then nothing may be done either). It is one round trip:
// for each action, not each request.
func (t *Term) Check(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if !t.Valid() {
		return fmt.Errorf("check leadership of %s: %w", t.key, errTermEnded)
	}
	resp, err := t.client.Get(ctx, t.key)
	if err != nil {
		return fmt.Errorf("check leadership of %s: %w", t.key, err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != t.rev {
		t.end("election key gone from etcd")
		return fmt.Errorf("check leadership: %w: election key %s (revision %d) is gone; the other replica owns this release now",
			ErrNotLeader, t.key, t.rev)
	}
	return nil
}

// Valid reports, without a round trip, whether the term may still act: it
// has not ended, and the lease deadline has not passed. The deadline is
// the send time of the last keep-alive etcd answered, plus the lease TTL,
// less a margin: the lease cannot have expired in etcd before it. A process
// paused past it finds Valid false as soon as it resumes, and the term ends.
func (t *Term) Valid() bool {
	if t == nil {
		return true
	}
	if t.ended.Load() {
		return false
	}
	if t.clock.Since(t.start) < time.Duration(t.deadline.Load()) {
		return true
	}
	t.end("lease deadline passed: no keep-alive answered in time")
	return false
}

// Over reports whether err says that the term is over: a config DB write
// fenced out (configdb.ErrFenced) or an action refused (ErrNotLeader). If
// so it ends the term and logs the first such error of the term; the work
// is to be dropped, not retried, since the other replica owns it now.
func (t *Term) Over(err error) bool {
	if t == nil || err == nil {
		return false
	}
	if !errors.Is(err, ErrNotLeader) && !errors.Is(err, configdb.ErrFenced) {
		return false
	}
	t.overOnce.Do(func() {
		t.log.Warn("work dropped: this replica's term of leadership is over", "identity", t.identity, "key", t.key, "error", err)
	})
	t.end("an action or write was fenced out")
	return true
}

// Fenced counts one thing this term refused to do (FencedHelmAction, ...).
func (t *Term) Fenced(what string) {
	if t != nil {
		t.metrics.Fenced(what)
	}
}

// Done is closed when the term has ended.
func (t *Term) Done() <-chan struct{} { return t.done }

// end ends the term: Valid turns false at once and the lead context is
// cancelled.
func (t *Term) end(reason string) {
	t.endOnce.Do(func() {
		t.ended.Store(true)
		t.cancel()
		if reason != "" {
			t.log.Warn("leadership term ended", "identity", t.identity, "key", t.key, "reason", reason)
		}
	})
}

// extend moves the deadline to d after start, unless it is later already:
// keep-alives answered out of order must not shorten it.
func (t *Term) extend(d time.Duration) {
	for {
		cur := t.deadline.Load()
		if int64(d) <= cur || t.deadline.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// renew sends one keep-alive and, once etcd answers, moves the deadline to
// the time it was sent plus the TTL granted, less the margin. The send time,
// not the answer's: a process paused between the two must not gain the
// pause.
func (t *Term) renew(ctx context.Context) error {
	sent := t.clock.Now()
	rctx, cancel := context.WithTimeout(ctx, t.ttl/3)
	defer cancel()
	resp, err := t.keepAliveOnce(rctx, t.lease)
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			t.end("lease gone from etcd")
		}
		return fmt.Errorf("keep-alive of lease %x: %w", int64(t.lease), err)
	}
	ttl := min(time.Duration(resp.TTL)*time.Second, t.ttl)
	t.extend(sent.Sub(t.start) + ttl - t.margin)
	return nil
}

// keepAlive renews the lease every TTL/3 until ctx ends. The session's own
// keep-alive runs as well; this one is the term's, whose send times it
// knows.
func (t *Term) keepAlive(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.clock.After(t.ttl / 3):
		}
		if err := t.renew(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("leadership keep-alive failed", "identity", t.identity, "error", err)
		}
	}
}

// expire ends the term when its deadline passes, so that the lead context
// ends even if nothing asks Valid.
func (t *Term) expire(ctx context.Context) {
	for {
		left := time.Duration(t.deadline.Load()) - t.clock.Since(t.start)
		if left <= 0 {
			t.Valid()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.clock.After(left):
		}
	}
}
