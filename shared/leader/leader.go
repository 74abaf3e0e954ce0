// Package leader runs a function only while this process holds a lease-based
// leadership in etcd, so that two replicas of a service can run and only one
// acts.
//
// service runs every main's work under it; the term it gives fences
// that work: docs/architecture.md, §6. Fencing.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
)

// Config says where and how to campaign.
type Config struct {
	Client *clientv3.Client
	// Key is the election's etcd key prefix. It is not a depth-tagged config
	// DB path, so clients listing the config DB never see it.
	Key string
	// Identity names this replica in the election and in logs.
	Identity string
	// TTL is the lease time: how long a dead leader blocks the next one.
	TTL time.Duration
	Log *slog.Logger
	// IsLeader, if set, is 1 while this replica leads.
	IsLeader prometheus.Gauge
	// Metrics, if set, count what the terms refuse to do.
	Metrics *Metrics

	// clock and keepAliveOnce are the real ones but in tests.
	clock         clock.WithTicker
	keepAliveOnce func(ctx context.Context, id clientv3.LeaseID) (*clientv3.LeaseKeepAliveResponse, error)
}

// ElectionKey is the election key of a service under a config DB prefix.
func ElectionKey(configPrefix, service string) string {
	return configPrefix + "/helm-deployer/leader/" + service
}

// Run campaigns for leadership and calls lead with a context that ends when
// leadership is lost (the lease expired, etcd unreachable for longer than
// the TTL, the term's lease deadline passed) or ctx ends; the context
// carries the Term (TermFrom). After a loss it campaigns again. It returns
// nil when ctx ends, or lead's error if lead fails while leading.
func Run(ctx context.Context, cfg Config, lead func(ctx context.Context) error) error {
	ttl := max(int(cfg.TTL/time.Second), 2)
	if cfg.clock == nil {
		cfg.clock = clock.RealClock{}
	}
	if cfg.keepAliveOnce == nil {
		cfg.keepAliveOnce = cfg.Client.KeepAliveOnce
	}
	// Campaigns after an interruption back off (up to 5s), so that an etcd
	// away is not hammered.
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Cap: 5 * time.Second, Steps: math.MaxInt32}
	var retryIn time.Duration
	// The wait before each campaign is the one the interruption logged.
	delay := wait.DelayFunc(func() time.Duration { return retryIn })
	// A campaign's lease is revoked when it ends, which lets the next
	// leader take over at once; when etcd is away then, the revoke fails,
	// and etcd, which renews every lease when it comes back, would keep
	// this replica's old key in front of every candidate (itself
	// included) for a whole TTL more. So the next campaign revokes it
	// first, once its own session says etcd answers again. The term it
	// belonged to has ended: nothing of it acts any more.
	var stale clientv3.LeaseID
	err := delay.Until(ctx, true, true, func(ctx context.Context) (bool, error) {
		err := campaignAndLead(ctx, cfg, ttl, &stale, lead)
		if ctx.Err() != nil {
			return true, nil
		}
		var leadErr leadError
		if errors.As(err, &leadErr) {
			return true, leadErr.err
		}
		retryIn = backoff.Step()
		cfg.Log.Warn("leader election interrupted; campaigning again", "error", err, "retry_in", retryIn)
		return false, nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type leadError struct{ err error }

func (e leadError) Error() string { return e.err.Error() }

// campaignAndLead campaigns once and leads if it wins. stale is the lease
// of an earlier campaign whose revoke failed: revoked first here, and set
// to this campaign's lease when its revoke fails.
func campaignAndLead(ctx context.Context, cfg Config, ttl int, stale *clientv3.LeaseID, lead func(context.Context) error) error {
	session, err := concurrency.NewSession(cfg.Client, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("leader election session: %w", err)
	}
	defer func() {
		if cerr := session.Close(); cerr != nil && !errors.Is(cerr, rpctypes.ErrLeaseNotFound) {
			*stale = session.Lease()
		}
	}()
	if *stale != 0 {
		rctx, cancel := context.WithTimeout(ctx, time.Duration(ttl)*time.Second)
		_, err := cfg.Client.Revoke(rctx, *stale)
		cancel()
		switch {
		case err == nil:
			cfg.Log.Info("old leadership lease revoked", "lease", fmt.Sprintf("%x", int64(*stale)))
			*stale = 0
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			*stale = 0
		}
	}
	election := concurrency.NewElection(session, cfg.Key)
	cfg.Log.Info("campaigning for leadership", "key", cfg.Key, "identity", cfg.Identity)
	// A standby's lease can die while it waits: etcd away for longer than
	// the TTL, and the client gives the lease up. Campaign would go on
	// waiting for the keys before one it no longer holds and return when
	// they go, as if this replica led, while the other replicas, with
	// live leases, wait on nobody. Campaigning ends with the session, so
	// that the replica starts over with a new lease as soon as etcd
	// answers.
	campaignCtx, endCampaign := context.WithCancel(ctx)
	go func() {
		select {
		case <-session.Done():
			endCampaign()
		case <-campaignCtx.Done():
		}
	}()
	err = election.Campaign(campaignCtx, cfg.Identity)
	endCampaign()
	if err != nil {
		select {
		case <-session.Done():
			if ctx.Err() == nil {
				return fmt.Errorf("campaign: lease %x lost while waiting to lead: %w", int64(session.Lease()), err)
			}
		default:
		}
		return fmt.Errorf("campaign: %w", err)
	}
	cfg.Log.Info("became leader", "identity", cfg.Identity, "key", election.Key(), "revision", election.Rev())
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	term := newTerm(cfg, session, election, time.Duration(ttl)*time.Second, cancel, leadCtx.Done())
	// The first deadline comes from a keep-alive sent now: the session's
	// own, sent before the campaign (which may have waited long), says
	// nothing this term can count on.
	if err := term.renew(leadCtx); err != nil {
		return fmt.Errorf("start of term: %w", err)
	}
	if cfg.IsLeader != nil {
		cfg.IsLeader.Set(1)
		// The gauge drops when the term ends, not when lead returns: that
		// may take seconds (informers stopping, an action cut short), and
		// a replica that reads as leader while it may no longer act
		// misleads both the NoLeader alert and an operator. Waited for
		// before returning, so that it cannot clear the next term's 1.
		dropped := make(chan struct{})
		go func() {
			defer close(dropped)
			<-leadCtx.Done()
			cfg.IsLeader.Set(0)
		}()
		defer func() { cancel(); <-dropped }()
	}
	defer term.end("")
	go term.keepAlive(leadCtx)
	go term.expire(leadCtx)
	go func() {
		select {
		case <-session.Done():
			term.end("lease expired")
		case <-leadCtx.Done():
		}
	}()
	err = lead(WithTerm(leadCtx, term))
	if ctx.Err() != nil {
		// Shutting down: hand over at once rather than make the next
		// leader wait out the TTL.
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer rcancel()
		if rerr := election.Resign(rctx); rerr != nil {
			cfg.Log.Warn("resign leadership", "error", rerr)
		}
		return nil
	}
	if err != nil && leadCtx.Err() == nil {
		return leadError{err: err}
	}
	return errors.New("leadership lost")
}

func newTerm(cfg Config, session *concurrency.Session, election *concurrency.Election, ttl time.Duration,
	cancel context.CancelFunc, done <-chan struct{}) *Term {
	return newTermFor(cfg, election.Key(), election.Rev(), session.Lease(), ttl, cancel, done)
}

func newTermFor(cfg Config, key string, rev int64, lease clientv3.LeaseID, ttl time.Duration,
	cancel context.CancelFunc, done <-chan struct{}) *Term {
	return &Term{
		client: cfg.Client, key: key, rev: rev, lease: lease, identity: cfg.Identity,
		// A tenth of the TTL covers the clocks of etcd and this process
		// running at slightly different rates.
		ttl: ttl, margin: max(ttl/10, 100*time.Millisecond),
		clock: cfg.clock, log: cfg.Log, metrics: cfg.Metrics, keepAliveOnce: cfg.keepAliveOnce,
		start: cfg.clock.Now(), cancel: cancel, done: done,
	}
}
