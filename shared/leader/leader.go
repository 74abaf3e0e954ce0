// Package leader runs a function only while this process holds a lease-based
// leadership in etcd, so that two replicas of a service can run and only one
// acts.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/apimachinery/pkg/util/wait"
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
}

// ElectionKey is the election key of a service under a config DB prefix.
func ElectionKey(configPrefix, service string) string {
	return configPrefix + "/helm-deployer/leader/" + service
}

// Run campaigns for leadership and calls lead with a context that ends when
// leadership is lost (the lease expired, etcd unreachable for longer than
// the TTL) or ctx ends. After a loss it campaigns again. It returns nil when
// ctx ends, or lead's error if lead fails while leading.
func Run(ctx context.Context, cfg Config, lead func(ctx context.Context) error) error {
	ttl := max(int(cfg.TTL/time.Second), 2)
	// Campaigns after an interruption back off (up to 5s), so that an etcd
	// away is not hammered.
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Cap: 5 * time.Second, Steps: math.MaxInt32}
	var retryIn time.Duration
	// The wait before each campaign is the one the interruption logged.
	delay := wait.DelayFunc(func() time.Duration { return retryIn })
	err := delay.Until(ctx, true, true, func(ctx context.Context) (bool, error) {
		err := campaignAndLead(ctx, cfg, ttl, lead)
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

func campaignAndLead(ctx context.Context, cfg Config, ttl int, lead func(context.Context) error) error {
	session, err := concurrency.NewSession(cfg.Client, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("leader election session: %w", err)
	}
	defer session.Close()
	election := concurrency.NewElection(session, cfg.Key)
	cfg.Log.Info("campaigning for leadership", "key", cfg.Key, "identity", cfg.Identity)
	if err := election.Campaign(ctx, cfg.Identity); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	cfg.Log.Info("became leader", "identity", cfg.Identity)
	if cfg.IsLeader != nil {
		cfg.IsLeader.Set(1)
		defer cfg.IsLeader.Set(0)
	}
	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-session.Done():
			cfg.Log.Warn("lost leadership: lease expired", "identity", cfg.Identity)
			cancel()
		case <-leadCtx.Done():
		}
	}()
	err = lead(leadCtx)
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
