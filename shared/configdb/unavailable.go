package configdb

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// IsUnavailable reports whether err says the config DB did not answer
// (gone, no leader, cut off, or not within the caller's time limit) rather
// than anything about the request: such a failure is retried until etcd
// is back, and is worth retrying at once when it is.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, clientv3.ErrNoAvailableEndpoints) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code() == codes.Unavailable || ee.Code() == codes.DeadlineExceeded
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// Ping is one linearizable read through the leader, as every write needs
// it: nil when the config DB answers.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.Get(ctx, s.layout.DeploymentsPrefix(), clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("config DB: %w", err)
	}
	return nil
}
