package configdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Reasons for a resync, as given to handlers and logged.
const (
	ResyncStart     = "start"
	ResyncCompacted = "compacted"
	ResyncWatchLost = "watch-lost"
)

// DeploymentEvent is one change of a deployment entry seen by a watch.
type DeploymentEvent struct {
	ID string
	// Deleted is true when the entry is gone.
	Deleted bool
	// Deployment is the new entry when it decoded.
	Deployment Deployment
	// Err is set when the new entry did not decode (an EntryError).
	Err error
	// Revision is the etcd revision of the change.
	Revision int64
}

// DeploymentWatch receives what WatchDeployments sees. OnResync gets every
// entry whenever the watch (re)starts: at the start, and after any gap in
// which changes may have been missed. Callers reconcile everything then,
// level-triggered, and treat OnEvent only as a hint of when to look again.
// Both are called from one goroutine, in revision order.
type DeploymentWatch struct {
	OnResync func(list DeploymentList, reason string)
	OnEvent  func(ev DeploymentEvent)
}

// WatchDeployments lists the deployment entries, then watches them from the
// revision it listed, until ctx ends. When the watch is compacted past or
// lost, it lists again and calls OnResync with the reason, so no change is
// missed; a change may be seen twice (once in a list, once as an event),
// which level-triggered callers absorb. It returns ctx's error.
func (s *Store) WatchDeployments(ctx context.Context, w DeploymentWatch) error {
	prefix := s.layout.DeploymentsPrefix()
	reason := ResyncStart
	// A short pause between a watch's end and the next list keeps a
	// flapping connection from spinning.
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		var list DeploymentList
		if err := s.retry(ctx, func(ctx context.Context) (err error) {
			list, err = s.ListDeployments(ctx)
			return err
		}, "config DB list failed; retrying", "prefix", prefix); err != nil {
			return
		}
		if reason != ResyncStart {
			s.logger().Info("config DB watch resynced", "prefix", prefix, "reason", reason, "revision", list.Revision)
		}
		w.OnResync(list, reason)
		reason = s.follow(ctx, prefix, list.Revision, func(key, value []byte, deleted bool, rev int64) {
			w.OnEvent(s.deploymentEvent(key, value, deleted, rev))
		}, clientv3.WithPrefix())
	}, s.watchBackoff.Min)
	return ctx.Err()
}

// retry calls read until it succeeds, backing off between failures as
// WatchBackoff says and logging each with msg, attrs and the wait. It
// returns ctx's error if ctx ends first.
func (s *Store) retry(ctx context.Context, read func(context.Context) error, msg string, attrs ...any) error {
	backoff := wait.Backoff{Duration: s.watchBackoff.Min, Factor: 2, Cap: s.watchBackoff.Max, Steps: math.MaxInt32}
	var retryIn time.Duration
	// The wait before each retry is the one the failure logged.
	delay := wait.DelayFunc(func() time.Duration { return retryIn })
	return delay.Until(ctx, true, true, func(ctx context.Context) (bool, error) {
		err := read(ctx)
		switch {
		case err == nil:
			return true, nil
		case ctx.Err() != nil:
			return false, ctx.Err()
		}
		retryIn = backoff.Step()
		s.logger().Warn(msg, append(attrs, "error", err, "retry_in", retryIn)...)
		return false, nil
	})
}

// StateEvent is a deployment's state entry as WatchState sees it.
type StateEvent struct {
	// Found is false when there is no state entry (not yet, or deleted).
	Found bool
	// State is the decoded entry when Found and Err is nil.
	State DeploymentState
	// Err is set when the entry did not decode (ErrBadState).
	Err error
	// Revision is the etcd revision of the read or of the change.
	Revision int64
}

// WatchState calls fn with a deployment's state entry as it is, then with
// each change of it, until ctx ends. After a gap in the watch (compaction,
// lost connection) it reads the entry again and calls fn with what it finds,
// so no change is missed, though an unchanged entry may be delivered twice.
// fn is called from one goroutine, in revision order. It returns ctx's error.
func (s *Store) WatchState(ctx context.Context, id string, fn func(StateEvent)) error {
	key := s.layout.StateKey(id)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		var resp *clientv3.GetResponse
		if err := s.retry(ctx, func(ctx context.Context) (err error) {
			resp, err = s.client.Get(ctx, key)
			return err
		}, "config DB read failed; retrying", "key", key); err != nil {
			return
		}
		ev := StateEvent{Revision: resp.Header.Revision}
		if len(resp.Kvs) > 0 {
			ev = s.stateEvent(id, resp.Kvs[0].Value, false, resp.Header.Revision)
		}
		fn(ev)
		s.follow(ctx, key, resp.Header.Revision, func(_, value []byte, deleted bool, rev int64) {
			fn(s.stateEvent(id, value, deleted, rev))
		})
	}, s.watchBackoff.Min)
	return ctx.Err()
}

// StateChange is a change of one deployment's state entry, as WatchStates
// sees it.
type StateChange struct {
	// ID is the deployment's id.
	ID string
	StateEvent
}

// StateWatch receives what WatchStates sees. OnResync is called whenever
// the watch (re)starts: at the start, and after a gap in which changes may
// have been missed, when callers look at every deployment again. Both are
// called from one goroutine, in revision order.
type StateWatch struct {
	OnResync func(reason string)
	OnChange func(StateChange)
}

// WatchStates follows every state entry (/deploy/<id>/state) from now on,
// until ctx ends, so that a service sees its part deleted or overwritten by
// someone else. Other /deploy/<id>/<leaf> entries are skipped. Nothing is
// listed: the callers hold what they wrote, and a gap is reported through
// OnResync instead. It returns ctx's error.
func (s *Store) WatchStates(ctx context.Context, w StateWatch) error {
	prefix := s.layout.StatesPrefix()
	reason := ResyncStart
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		var rev int64
		if err := s.retry(ctx, func(ctx context.Context) error {
			resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err == nil {
				rev = resp.Header.Revision
			}
			return err
		}, "config DB read failed; retrying", "prefix", prefix); err != nil {
			return
		}
		if reason != ResyncStart {
			s.logger().Info("config DB watch resynced", "prefix", prefix, "reason", reason, "revision", rev)
		}
		w.OnResync(reason)
		reason = s.follow(ctx, prefix, rev, func(key, value []byte, deleted bool, rev int64) {
			if id, ok := s.layout.StateID(string(key)); ok {
				w.OnChange(StateChange{ID: id, StateEvent: s.stateEvent(id, value, deleted, rev)})
			}
		}, clientv3.WithPrefix())
	}, s.watchBackoff.Min)
	return ctx.Err()
}

func (s *Store) stateEvent(id string, value []byte, deleted bool, rev int64) StateEvent {
	ev := StateEvent{Found: !deleted, Revision: rev}
	if deleted {
		return ev
	}
	st, err := DecodeState(value)
	if err != nil {
		ev.Err = fmt.Errorf("state of %s: %w", id, err)
		return ev
	}
	ev.State = st
	return ev
}

func (s *Store) deploymentEvent(key, value []byte, deleted bool, rev int64) DeploymentEvent {
	ev := DeploymentEvent{Deleted: deleted, Revision: rev}
	if deleted {
		ev.ID, ev.Err = s.layout.DeploymentID(string(key))
		return ev
	}
	d, err := s.decodeDeploymentKV(key, value)
	ev.ID, ev.Deployment, ev.Err = d.ID, d, err
	var ee EntryError
	if errors.As(err, &ee) {
		ev.ID = ee.ID
	}
	return ev
}

// follow watches prefix (one key unless opts hold WithPrefix) from rev+1 and hands each
// event to fn until the watch ends; it returns why, as a resync reason.
func (s *Store) follow(ctx context.Context, prefix string, rev int64, fn func(key, value []byte, deleted bool, rev int64), opts ...clientv3.OpOption) string {
	// WithRequireLeader ends the watch when the member loses its leader,
	// rather than leaving it silently stale behind a partition.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	opts = append(opts, clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
	wch := s.client.Watch(wctx, prefix, opts...)
	for resp := range wch {
		if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
			s.logger().Warn("config DB watch compacted past; listing again", "prefix", prefix,
				"from_revision", rev+1, "compact_revision", resp.CompactRevision)
			return ResyncCompacted
		}
		if err := resp.Err(); err != nil {
			s.logger().Warn("config DB watch lost; listing again", "prefix", prefix, "error", err)
			return ResyncWatchLost
		}
		for _, ev := range resp.Events {
			fn(ev.Kv.Key, ev.Kv.Value, ev.Type == clientv3.EventTypeDelete, ev.Kv.ModRevision)
		}
	}
	if ctx.Err() == nil {
		s.logger().Warn("config DB watch closed; listing again", "prefix", prefix)
	}
	return ResyncWatchLost
}

func (s *Store) logger() *slog.Logger {
	if s.log != nil {
		return s.log
	}
	return slog.Default()
}

// SetLogger sets the logger for the store's own messages (watch gaps).
func (s *Store) SetLogger(l *slog.Logger) { s.log = l }

// String describes the event for logs.
func (ev DeploymentEvent) String() string {
	switch {
	case ev.Deleted:
		return fmt.Sprintf("deleted %s at %d", ev.ID, ev.Revision)
	case ev.Err != nil:
		return fmt.Sprintf("bad entry %s at %d: %v", ev.ID, ev.Revision, ev.Err)
	}
	return fmt.Sprintf("put %s at %d", ev.ID, ev.Revision)
}
