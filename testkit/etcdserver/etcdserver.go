// Package etcdserver runs a real etcd server (or cluster) inside a test
// process, on free loopback ports and a temporary data directory, so that
// tests of the config DB contract run against etcd itself rather than a
// model of it. It knows nothing of the product, so that shared's own tests
// can use it without the module graph turning round
// (docs/architecture.md, §1. The rooms); testkit/etcdtest adds the config
// DB on top.
package etcdserver

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is an embedded etcd.
type Server struct {
	// Endpoint is the client URL, http://127.0.0.1:<port>.
	Endpoint string
	// Port is the client port.
	Port int

	tb   testing.TB
	cfg  *embed.Config
	etcd *embed.Etcd
}

// Option changes the server's configuration before it starts.
type Option func(cfg *embed.Config)

// WithClientTLS serves clients over https with the given certificate and
// key files.
func WithClientTLS(certFile, keyFile string) Option {
	return func(cfg *embed.Config) {
		cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = certFile, keyFile
		for i := range cfg.ListenClientUrls {
			cfg.ListenClientUrls[i].Scheme = "https"
			cfg.AdvertiseClientUrls[i].Scheme = "https"
		}
	}
}

// WithClientCertAuth makes the server (serving https, see WithClientTLS)
// require a client certificate signed by the CA in caFile, as an etcd set
// up with --client-cert-auth and --trusted-ca-file does.
func WithClientCertAuth(caFile string) Option {
	return func(cfg *embed.Config) {
		cfg.ClientTLSInfo.ClientCertAuth = true
		cfg.ClientTLSInfo.TrustedCAFile = caFile
	}
}

// Start starts an etcd server and registers its stop with tb.Cleanup.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	// A port found free can be taken by another process before etcd binds
	// it; try again with new ones rather than fail the test.
	var s *Server
	for attempt := 1; ; attempt++ {
		var err error
		s, err = tryStart(tb, opts)
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			tb.Fatalf("start embedded etcd: %v", err)
		}
	}
	tb.Cleanup(s.Stop)
	return s
}

func tryStart(tb testing.TB, opts []Option) (*Server, error) {
	clientPort, peerPort := freePort(tb), freePort(tb)
	cfg := baseConfig(tb, "test", clientPort, peerPort)
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	for _, o := range opts {
		o(cfg)
	}
	s := &Server{Endpoint: cfg.AdvertiseClientUrls[0].String(), Port: clientPort, tb: tb, cfg: cfg}
	return s, s.startErr()
}

func baseConfig(tb testing.TB, name string, clientPort, peerPort int) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Dir = tb.TempDir()
	cfg.Name = name
	cu := mustURL(tb, fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	pu := mustURL(tb, fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	// Benchmarks write hundreds of entries in one transaction (a script
	// creating many deployments at once); etcd's default allows 128.
	cfg.MaxTxnOps = 10000
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// No metrics listener or other ports: nothing beyond the two above.
	cfg.ListenMetricsUrls = nil
	return cfg
}

func (s *Server) start() {
	s.tb.Helper()
	if err := s.startErr(); err != nil {
		s.tb.Fatalf("start embedded etcd: %v", err)
	}
}

func (s *Server) startErr() error {
	e, err := embed.StartEtcd(s.cfg)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		return fmt.Errorf("embedded etcd did not become ready in 30s")
	}
	s.etcd = e
	return nil
}

// Stop stops the server; its data stays for Restart. Stopping twice is fine.
func (s *Server) Stop() {
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	}
}

// Restart starts a stopped server again on the same ports and data.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// Client returns a new client of the server, closed at the end of the test.
func (s *Server) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		tb.Fatalf("etcd client: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// EnableAuth adds user with password and the root role and turns
// authentication on, as an etcd set up for password login is; clients
// need the credentials from then on (Client's no longer get in).
func (s *Server) EnableAuth(tb testing.TB, user, password string) {
	tb.Helper()
	c := s.Client(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.UserAdd(ctx, user, password); err != nil {
		tb.Fatalf("add etcd user: %v", err)
	}
	if _, err := c.UserGrantRole(ctx, user, "root"); err != nil {
		tb.Fatalf("grant root to %s: %v", user, err)
	}
	if _, err := c.AuthEnable(ctx); err != nil {
		tb.Fatalf("enable etcd auth: %v", err)
	}
}

// Compact compacts the server's history up to its current revision, so
// that any watch starting from an older revision fails as compacted.
func (s *Server) Compact(tb testing.TB, c *clientv3.Client) int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, "compact-probe")
	if err != nil {
		tb.Fatalf("read revision: %v", err)
	}
	rev := resp.Header.Revision
	if _, err := c.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		tb.Fatalf("compact to %d: %v", rev, err)
	}
	return rev
}

// Cluster is several embedded etcd servers forming one cluster, as
// production runs the config DB.
type Cluster struct {
	// Members are the servers; Stop one to take it out, Restart to bring
	// it back with its data.
	Members []*Server
	// Hosts are the members' client addresses, host:port, comma-separated:
	// SDP_CONFIG_HOST for the whole cluster.
	Hosts string
	// Endpoints are the members' client URLs.
	Endpoints []string
}

// StartCluster starts an etcd cluster of n members and registers their stop
// with tb.Cleanup. opts apply to every member.
func StartCluster(tb testing.TB, n int, opts ...Option) *Cluster {
	tb.Helper()
	c := &Cluster{}
	var initial []string
	cfgs := make([]*embed.Config, n)
	for i := range n {
		clientPort, peerPort := freePort(tb), freePort(tb)
		cfg := baseConfig(tb, fmt.Sprintf("m%d", i), clientPort, peerPort)
		for _, o := range opts {
			o(cfg)
		}
		cfgs[i] = cfg
		initial = append(initial, fmt.Sprintf("%s=%s", cfg.Name, cfg.AdvertisePeerUrls[0].String()))
		s := &Server{Endpoint: cfg.AdvertiseClientUrls[0].String(), Port: clientPort, tb: tb, cfg: cfg}
		c.Members = append(c.Members, s)
		c.Endpoints = append(c.Endpoints, s.Endpoint)
		hosts := fmt.Sprintf("127.0.0.1:%d", clientPort)
		if c.Hosts != "" {
			hosts = c.Hosts + "," + hosts
		}
		c.Hosts = hosts
	}
	for _, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "etcdtest"
	}
	// A member is ready only once a quorum is up: start them together.
	errs := make(chan error, n)
	for _, s := range c.Members {
		go func() { errs <- s.startErr() }()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	tb.Cleanup(func() {
		for _, s := range c.Members {
			s.Stop()
		}
	})
	if first != nil {
		tb.Fatalf("start embedded etcd cluster: %v", first)
	}
	return c
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func mustURL(tb testing.TB, s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return *u
}
