package settings

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// DialTimeout bounds the first connection to etcd.
const DialTimeout = 10 * time.Second

// ReconnectMax bounds the wait between attempts to reach a config DB
// member that went away.
const ReconnectMax = time.Second

// NewClient returns an etcd client for the environment's endpoints, with
// TLS when the protocol is https and user/password authentication when a
// user is set. Without a user it does not wait for etcd: services start, say
// they are not ready, and connect when etcd comes (see Ping). With a user
// and password, the etcd client authenticates before it returns, which
// waits for etcd up to DialTimeout and fails if etcd does not answer by
// then; the services' runtime (shared/service) retries it so that they
// start all the same.
func NewClient(env Env) (*clientv3.Client, error) {
	return NewClientWithin(env, DialTimeout)
}

// NewClientWithin is NewClient with the bound on that first authentication
// given, for command-line tools whose own timeout must hold when etcd is
// away.
func NewClientWithin(env Env, dialTimeout time.Duration) (*clientv3.Client, error) {
	endpoints, err := env.ParseEndpoints()
	if err != nil {
		return nil, err
	}
	cfg := clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		Username:    env.ConfigUsername,
		Password:    env.ConfigPassword,
		// Keepalives notice a dead connection in seconds instead of
		// waiting on TCP; watches then reconnect or report the gap.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		// gRPC's own reconnect backoff grows to two minutes: after a
		// config DB restart of some 20 s the services came back 4 to 17 s
		// after etcd did, every leader among them with it. Redialling a
		// member that is away once a second costs nothing.
		DialOptions: ReconnectOptions(),
		Logger:      zap.NewNop(),
	}
	// Every member is dialled; the client balances over those that answer
	// and moves a watch to another when its member goes.
	tlsCfg, err := env.TLSConfig()
	if err != nil {
		return nil, err
	}
	cfg.TLS = tlsCfg
	client, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("config DB client for %s: %w", env.Endpoint(), err)
	}
	return client, nil
}

// ReconnectOptions are the gRPC dial options of every config DB client:
// a member that went away is tried again at least every ReconnectMax.
func ReconnectOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: ReconnectMax},
		MinConnectTimeout: 5 * time.Second,
	})}
}

// Ping checks that etcd answers, for readiness probes. When it does not
// over https, it tries a TLS handshake with each endpoint, so that a
// certificate etcd shows and the settings refuse is named in the error
// rather than hidden behind a timeout (the etcd client only says that).
func Ping(ctx context.Context, env Env, client *clientv3.Client) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// A serializable read of one key is the cheapest round trip that goes
	// through authentication and the KV service.
	_, err := client.Get(pctx, "health", clientv3.WithSerializable(), clientv3.WithCountOnly())
	if err == nil {
		return nil
	}
	if tlsErr := CheckTLS(ctx, env); tlsErr != nil {
		return tlsErr
	}
	return fmt.Errorf("config DB at %v: %w", client.Endpoints(), err)
}

// CheckTLS tries a TLS handshake with each endpoint of env and returns the
// first refusal of etcd's certificate, with what to set about it; nil for
// http, or when no endpoint's certificate is refused. The etcd client
// reports such a refusal as a timeout only.
func CheckTLS(ctx context.Context, env Env) error {
	cfg, err := env.TLSConfig()
	if err != nil || cfg == nil {
		return err
	}
	for _, ep := range env.Endpoints() {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" {
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		d := tls.Dialer{Config: cfg}
		conn, err := d.DialContext(hctx, "tcp", u.Host)
		cancel()
		if err == nil {
			_ = conn.Close()
			continue
		}
		var unknownCA x509.UnknownAuthorityError
		var hostname x509.HostnameError
		var invalid x509.CertificateInvalidError
		var verify *tls.CertificateVerificationError
		if errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalid) {
			return fmt.Errorf("config DB at %s: etcd's certificate is refused: %w; set SDP_CONFIG_CERT (or SDP_CONFIG_CA) "+
				"to the CA that signed it, or SDP_CONFIG_INSECURE_SKIP_VERIFY=true to accept any", ep, err)
		}
	}
	return nil
}
