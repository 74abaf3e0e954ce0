package settings

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DialTimeout bounds the first connection to etcd.
const DialTimeout = 10 * time.Second

// NewClient returns an etcd client for the environment's endpoint, with TLS
// when the protocol is https and user/password authentication when a user
// is set. Without a user it does not wait for etcd: services start, say they
// are not ready, and connect when etcd comes (see Ping). With a user and
// password, the etcd client authenticates before it returns, which waits
// for etcd up to DialTimeout and fails if etcd does not answer by then.
func NewClient(env Env) (*clientv3.Client, error) {
	return NewClientWithin(env, DialTimeout)
}

// NewClientWithin is NewClient with the bound on that first authentication
// given, for command-line tools whose own timeout must hold when etcd is
// away.
func NewClientWithin(env Env, dialTimeout time.Duration) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:   []string{env.Endpoint()},
		DialTimeout: dialTimeout,
		Username:    env.ConfigUsername,
		Password:    env.ConfigPassword,
		// Keepalives notice a dead connection in seconds instead of
		// waiting on TCP; watches then reconnect or report the gap.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               zap.NewNop(),
	}
	if env.ConfigProtocol == "https" {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if env.ConfigCert != "" {
			pem, err := os.ReadFile(env.ConfigCert)
			if err != nil {
				return nil, fmt.Errorf("read SDP_CONFIG_CERT: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("SDP_CONFIG_CERT %s: no PEM certificate in it", env.ConfigCert)
			}
			tlsCfg.RootCAs = pool
		}
		cfg.TLS = tlsCfg
	}
	client, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("config DB client for %s: %w", env.Endpoint(), err)
	}
	return client, nil
}

// Ping checks that etcd answers, for readiness probes.
func Ping(ctx context.Context, client *clientv3.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// A serializable read of one key is the cheapest round trip that goes
	// through authentication and the KV service.
	if _, err := client.Get(ctx, "health", clientv3.WithSerializable(), clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("config DB at %v: %w", client.Endpoints(), err)
	}
	return nil
}
