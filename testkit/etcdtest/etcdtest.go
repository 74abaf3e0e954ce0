// Package etcdtest is a test etcd with the config DB on it: etcdserver's
// server, the configdb.Store over it, entries to put and a service runtime
// over the store. It is its own module, the one part of the test kit that
// requires shared, so that the testkit module requires nothing of the
// product and shared's tests can use testkit without a cycle
// (docs/architecture.md, §1. The rooms). Only the services', sdpctl's and
// the suites' tests import it.
package etcdtest

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
)

// Server is an embedded etcd that also hands out config DB stores.
type Server struct{ *etcdserver.Server }

// Start starts an etcd server and registers its stop with tb.Cleanup.
func Start(tb testing.TB, opts ...etcdserver.Option) *Server {
	tb.Helper()
	return &Server{etcdserver.Start(tb, opts...)}
}

// Store returns a client of the server and the config DB store over it
// (the default prefix), both closed at the end of the test.
func (s *Server) Store(tb testing.TB) (*clientv3.Client, *configdb.Store) {
	tb.Helper()
	c := s.Client(tb)
	store, err := configdb.NewStore(c, "")
	if err != nil {
		tb.Fatalf("config DB store: %v", err)
	}
	return c, store
}
