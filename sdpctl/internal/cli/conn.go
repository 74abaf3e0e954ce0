package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/logging"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
)

// app holds what every command shares: the global flags and where the
// SDP_* settings come from.
type app struct {
	lookupEnv func(string) (string, bool)
	stderr    io.Writer

	host, endpoints, protocol, cert, ca, username, prefix, helmPrefix string
	port                                                              int
	insecureSkipVerify                                                bool
	timeout                                                           time.Duration
	root                                                              *cobra.Command
}

func (a *app) bindFlags(root *cobra.Command) {
	a.root = root
	f := root.PersistentFlags()
	f.StringVar(&a.host, "host", "", "etcd host, or the members of a cluster comma-separated, each optionally host:port (overrides SDP_CONFIG_HOST, default 127.0.0.1)")
	f.StringVar(&a.endpoints, "endpoints", "", "etcd client URLs, comma-separated, instead of --host and --port (overrides SDP_CONFIG_ENDPOINTS)")
	f.IntVar(&a.port, "port", 0, "etcd client port (overrides SDP_CONFIG_PORT, default 2379)")
	f.StringVar(&a.protocol, "protocol", "", "http or https (overrides SDP_CONFIG_PROTOCOL, default http)")
	f.StringVar(&a.cert, "cert", "", "PEM file for https: a client key with its certificate, or the CA bundle that verifies etcd (overrides SDP_CONFIG_CERT)")
	f.StringVar(&a.ca, "ca", "", "CA bundle that verifies etcd when --cert is a client identity (overrides SDP_CONFIG_CA)")
	f.BoolVar(&a.insecureSkipVerify, "insecure-skip-verify", false, "accept any certificate etcd shows (overrides SDP_CONFIG_INSECURE_SKIP_VERIFY)")
	f.StringVar(&a.username, "username", "", "etcd user (overrides SDP_CONFIG_USERNAME; the password is read from SDP_CONFIG_PASSWORD only)")
	f.StringVar(&a.prefix, "prefix", "", "global key prefix such as /test (overrides SDP_CONFIG_PREFIX)")
	f.StringVar(&a.helmPrefix, "helm-prefix", "", "release name prefix: a new id must be able to become a release name, and explain finds the release by it (overrides SDP_HELM_PREFIX)")
	f.DurationVar(&a.timeout, "timeout", DefaultTimeout, "bound on the config DB calls of one command, and on each of explain's Kubernetes calls")
}

// env is the SDP_* environment with the flags that were given on top.
func (a *app) env() (settings.Env, error) {
	env, err := settings.Parse(a.lookupEnv)
	if err != nil {
		return env, fmt.Errorf("read settings: %w; fix or unset the variables named", err)
	}
	f := a.root.PersistentFlags()
	set := func(name string, dst *string, v string) {
		if f.Changed(name) {
			*dst = v
		}
	}
	set("host", &env.ConfigHost, a.host)
	set("endpoints", &env.ConfigEndpoints, a.endpoints)
	set("protocol", &env.ConfigProtocol, a.protocol)
	set("cert", &env.ConfigCert, a.cert)
	set("ca", &env.ConfigCA, a.ca)
	if f.Changed("insecure-skip-verify") {
		env.ConfigInsecureSkipVerify = a.insecureSkipVerify
	}
	set("username", &env.ConfigUsername, a.username)
	set("prefix", &env.ConfigPrefix, a.prefix)
	set("helm-prefix", &env.HelmPrefix, a.helmPrefix)
	if f.Changed("port") {
		if a.port < 1 || a.port > 65535 {
			return env, usagef("--port %d: not a port number (1-65535)", a.port)
		}
		env.ConfigPort = a.port
	}
	if env.ConfigProtocol != "http" && env.ConfigProtocol != "https" {
		return env, usagef("--protocol %q: must be http or https", env.ConfigProtocol)
	}
	if _, err := env.ParseEndpoints(); err != nil {
		return env, usagef("%v (or --host, --port, --endpoints)", err)
	}
	if _, err := configdb.NewLayout(env.ConfigPrefix); err != nil {
		return env, usagef("--prefix: %v", err)
	}
	if a.timeout <= 0 {
		return env, usagef("--timeout %v: must be positive", a.timeout)
	}
	return env, nil
}

// session is one command's connection to the config DB.
type session struct {
	env    settings.Env
	store  *configdb.Store
	client *clientv3.Client
	stderr io.Writer
	// timeout is the bound on each call, from --timeout.
	timeout time.Duration
}

// connect opens the config DB client. It does not wait for etcd: the first
// call, bounded by --timeout, finds out whether it answers.
// withSession connects for one command and calls fn with the session and a
// context bounded by --timeout, closing both afterwards.
func (a *app) withSession(ctx context.Context, fn func(ctx context.Context, s *session) error) error {
	s, err := a.connect()
	if err != nil {
		return err
	}
	defer s.close()
	ctx, cancel := s.call(ctx)
	defer cancel()
	return fn(ctx, s)
}

func (a *app) connect() (*session, error) {
	env, err := a.env()
	if err != nil {
		return nil, err
	}
	s := &session{env: env, stderr: a.stderr, timeout: a.timeout}
	// With a user set the client authenticates before it returns; the
	// timeout bounds that too.
	s.client, err = settings.NewClientWithin(env, a.timeout)
	if err != nil {
		// Etcd away or credentials refused read as they do for any call.
		if explained := s.dbError("connect to config DB", err); !errors.Is(explained, err) {
			return nil, explained
		}
		hint := "check SDP_CONFIG_HOST and SDP_CONFIG_PORT (or --host, --port)"
		if env.ConfigProtocol == "https" {
			hint = "set SDP_CONFIG_CERT (or --cert) to a PEM file: the CA that signed etcd's certificate, or a client key with its certificate"
		}
		return nil, fmt.Errorf("connect to config DB at %s: %w; %s", env.Endpoint(), err, hint)
	}
	s.store, err = configdb.NewStore(s.client, env.ConfigPrefix)
	if err != nil {
		_ = s.client.Close()
		return nil, usagef("--prefix: %v", err)
	}
	s.store.SetLogger(a.logger())
	return s, nil
}

// logger is for the store's own lines: it logs only when a watch is
// interrupted, a warning the operator sees on stderr. Those lines are in
// the services' format (SDP_LOG_FORMAT), so that a log pipeline that reads
// theirs reads them; the command's output and its error messages stay plain.
func (a *app) logger() *slog.Logger {
	return logging.ForService(a.stderr, "sdpctl", "WARNING", a.lookupEnv)
}

func (s *session) close() { _ = s.client.Close() }

// call bounds one step of a command by the timeout.
func (s *session) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// authErrors are the etcd errors that mean the credentials are missing or
// wrong, as the client returns them.
var authErrors = []error{rpctypes.ErrAuthFailed, rpctypes.ErrUserEmpty, rpctypes.ErrInvalidAuthToken, rpctypes.ErrAuthOldRevision}

// dbError says what failed and, for the failures an operator can fix, what
// to do about it.
func (s *session) dbError(what string, err error) error {
	endpoint := s.env.Endpoint()
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, rpctypes.ErrNoLeader):
		// Over https, a refused certificate looks like a timeout to the
		// etcd client; a handshake of our own names it.
		if tlsErr := settings.CheckTLS(context.Background(), s.env); tlsErr != nil {
			return fmt.Errorf("%s: %w", what, tlsErr)
		}
		return fmt.Errorf("%s: config DB at %s did not answer within %v; is etcd running there? "+
			"Set SDP_CONFIG_HOST and SDP_CONFIG_PORT (or --host, --port), or raise --timeout", what, endpoint, s.timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: interrupted", what)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("%s: config DB at %s: permission denied for user %q; ask for read/write rights on the key prefix", what, endpoint, s.env.ConfigUsername)
	}
	for _, authErr := range authErrors {
		if errors.Is(err, authErr) {
			return fmt.Errorf("%s: config DB at %s refused the credentials (%v); set SDP_CONFIG_USERNAME and SDP_CONFIG_PASSWORD", what, endpoint, authErr)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
