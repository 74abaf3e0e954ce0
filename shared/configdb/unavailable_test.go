package configdb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func TestIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"deadline", fmt.Errorf("update pods of x: read: %w", context.DeadlineExceeded), true},
		{"no leader", fmt.Errorf("write: %w", rpctypes.ErrNoLeader), true},
		{"request timed out", rpctypes.ErrTimeout, true},
		{"grpc unavailable", status.Error(codes.Unavailable, "connection refused"), true},
		{"canceled", context.Canceled, false},
		{"no deployment", fmt.Errorf("update: %w", configdb.ErrNoDeployment), false},
		{"bad state", configdb.ErrBadState, false},
		{"permission denied", rpctypes.ErrPermissionDenied, false},
		{"other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := configdb.IsUnavailable(tc.err); got != tc.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// Against a real etcd: a stopped server makes Ping and the writes fail as
// unavailable, and Ping answers again once it is back.
func TestPingAndUnavailableAgainstEtcd(t *testing.T) {
	e := newStore(t)
	if err := e.store.Ping(ctx(t)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	e.srv.Stop()
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := e.store.Ping(short)
	if err == nil || !configdb.IsUnavailable(err) {
		t.Errorf("ping with etcd stopped: %v, want an unavailable error", err)
	}
	short2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	_, err = e.store.UpdatePods(short2, "d1", func(map[string]configdb.PodStatus) map[string]configdb.PodStatus { return nil })
	if err == nil || !configdb.IsUnavailable(err) {
		t.Errorf("update with etcd stopped: %v, want an unavailable error", err)
	}
	e.srv.Restart()
	if err := e.store.Ping(ctx(t)); err != nil {
		t.Errorf("ping after restart: %v", err)
	}
}
