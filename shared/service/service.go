// Package service is what the three services' main functions have in
// common: the SDP_* environment, logging, the etcd client, metrics and
// health endpoints, signal handling and leader election. Each main wires its
// own reconciler on top.
//
// Each service's cmd/<name>/main.go is wiring only and hands its app's
// constructor to Main; docs/architecture.md, §1. The rooms.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/health"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
	"github.com/ska-telescope/sdp-helmdeploy/shared/logging"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
)

// MetricsNamespace prefixes every metric of the deployer.
const MetricsNamespace = "sdp_helmdeploy"

// probeTimeout bounds a dependency probe made at scrape time: well inside
// any scrape timeout, so that a dependency away shows as 0 rather than as a
// failed scrape of the whole page.
const probeTimeout = 500 * time.Millisecond

// probe is 1 when check succeeds within probeTimeout, else 0.
func probe(check func(ctx context.Context) error) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if check(ctx) != nil {
		return 0
	}
	return 1
}

// Options are the command-line settings every service shares. The SDP_*
// environment holds the rest.
type Options struct {
	// HTTPAddr serves /metrics, /healthz and /readyz.
	HTTPAddr string
	// LeaderElect makes the service act only while it holds the leadership,
	// so that two replicas can run.
	LeaderElect bool
	// LeaderTTL is how long a dead leader blocks the next.
	LeaderTTL time.Duration
	// Identity names this replica (default: host name and process id).
	Identity string
}

// Bind registers the options on fs.
func (o *Options) Bind(fs *flag.FlagSet) {
	fs.StringVar(&o.HTTPAddr, "http-addr", envOr("SDP_HTTP_ADDR", ":8080"), "address for /metrics, /healthz and /readyz (env SDP_HTTP_ADDR)")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "act only while leader, elected through etcd, so that replicas can run side by side")
	fs.DurationVar(&o.LeaderTTL, "leader-ttl", 10*time.Second, "leadership lease time: how long a dead leader blocks the next")
	fs.StringVar(&o.Identity, "identity", "", "name of this replica in the election (default: host name and pid)")
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// SignalContext returns a context that ends on SIGTERM or SIGINT.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// Runtime holds what a service's reconciler is built from.
type Runtime struct {
	Name     string
	Env      settings.Env
	Log      *slog.Logger
	Client   *clientv3.Client
	Store    *configdb.Store
	Registry *prometheus.Registry
	Health   *health.Server
	// Fencing counts what the terms of leadership refused to do and
	// records the revision of the last config DB write.
	Fencing *leader.Metrics

	opts     Options
	isLeader prometheus.Gauge
	ctx      context.Context

	// connMu guards Client, Store and connErr while connect builds them
	// and the readiness check reads them.
	connMu  sync.Mutex
	connErr error
	// setUp is set once the service's setup has run (see run).
	setUp atomic.Bool
}

// SetContext sets the process context, for tests and programs that embed
// a service without Main.
func (r *Runtime) SetContext(ctx context.Context) { r.ctx = ctx }

// Context lives as long as the process: for what runs whether or not this
// replica leads (caches that keep a standby ready to take over). Lead
// functions use the context they are given, which ends with leadership.
func (r *Runtime) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// Start reads the environment, builds the logger, the metrics registry and
// the health server, and binds the HTTP address. Bad settings (including
// TLS files that cannot be used) are an error here. Start does not wait for
// etcd: the etcd client is built by Run (see connect), and /readyz says
// "config DB not reachable" until etcd answers.
func Start(name string, opts Options) (*Runtime, error) {
	env, envErr := settings.Load()
	// SKA or JSON lines (SDP_LOG_FORMAT); a bad logging setting is logged
	// and its default used.
	log := logging.ForService(os.Stderr, name, env.LogLevel, os.LookupEnv)
	slog.SetDefault(log)
	if envErr != nil {
		return nil, envErr
	}
	if _, err := env.TLSConfig(); err != nil {
		return nil, err
	}
	if opts.Identity == "" {
		host, _ := os.Hostname()
		opts.Identity = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	isLeader := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: MetricsNamespace, Name: "leader",
		Help: "Whether this replica holds the leadership and acts (1) or stands by (0).",
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: MetricsNamespace, Name: "build_info",
		Help: "Always 1; labels name the service and its version.",
	}, []string{"service", "version"})
	buildInfo.WithLabelValues(name, version()).Set(1)
	reg.MustRegister(isLeader, buildInfo)

	hs := health.New(opts.HTTPAddr, reg, log)
	rt := &Runtime{Name: name, Env: env, Log: log, Registry: reg, Health: hs, opts: opts, isLeader: isLeader,
		Fencing: leader.NewMetrics(reg)}
	// Probed at scrape time, so that an alert sees each replica's own view
	// of the config DB, standbys' too, without a loop of its own.
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: MetricsNamespace, Name: "config_db_up",
		Help: "Whether the config DB answered a read at scrape time (1) or not (0).",
	}, func() float64 { return probe(rt.pingConfigDB) }))
	hs.AddReadiness("config-db", rt.pingConfigDB)
	// HTTP is served before the service's own readiness checks are added
	// (see run); until then it is not ready either.
	hs.AddReadiness("setup", func(context.Context) error {
		if !rt.setUp.Load() {
			return errors.New("starting")
		}
		return nil
	})
	if err := hs.Listen(); err != nil {
		return nil, err
	}
	log.Info("starting", "version", version(), "config_db", env.Endpoint(), "config_prefix", env.ConfigPrefix,
		"namespace", env.HelmNamespace, "release_prefix", env.HelmPrefix, "identity", opts.Identity)
	return rt, nil
}

// connectBackoff paces the attempts to log in to an absent etcd.
var connectBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: 10 * time.Second}

// connect builds the etcd client and the Store, unless the Runtime has
// them. Without a user the etcd client does not wait for etcd and this
// returns at once. With a user and password the client logs in while it
// is built, which fails when etcd is away; connect then tries again, with
// backoff, until etcd answers or ctx ends, so that the service runs and says
// "config DB not reachable" on /readyz as it does without credentials.
// Credentials etcd refuses are an error: retrying would not fix them.
func (r *Runtime) connect(ctx context.Context) error {
	r.connMu.Lock()
	done := r.Client != nil
	r.connMu.Unlock()
	if done {
		return nil
	}
	var client *clientv3.Client
	err := wait.ExponentialBackoffWithContext(ctx, connectBackoff, func(context.Context) (bool, error) {
		c, err := settings.NewClient(r.Env)
		if err == nil {
			client = c
			return true, nil
		}
		if refused(err) {
			return false, fmt.Errorf("config DB at %s refused the credentials of %q (SDP_CONFIG_USERNAME, SDP_CONFIG_PASSWORD): %w",
				r.Env.Endpoint(), r.Env.ConfigUsername, err)
		}
		r.Log.Warn("config DB not reachable; retrying", "config_db", r.Env.Endpoint(), "error", err)
		r.connMu.Lock()
		r.connErr = err
		r.connMu.Unlock()
		return false, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	store, err := configdb.NewStore(client, r.Env.ConfigPrefix)
	if err != nil {
		_ = client.Close()
		return err
	}
	store.SetLogger(r.Log)
	if r.Fencing != nil {
		store.SetWriteObserver(r.Fencing)
	}
	r.connMu.Lock()
	r.Client, r.Store, r.connErr = client, store, nil
	r.connMu.Unlock()
	return nil
}

// refused tells credentials etcd turned down from etcd not answering.
func refused(err error) bool {
	for _, e := range []error{rpctypes.ErrAuthFailed, rpctypes.ErrUserEmpty, rpctypes.ErrUserNotFound, rpctypes.ErrPermissionDenied} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// pingConfigDB is the readiness check of the config DB.
func (r *Runtime) pingConfigDB(ctx context.Context) error {
	r.connMu.Lock()
	client, connErr := r.Client, r.connErr
	r.connMu.Unlock()
	if client == nil {
		if connErr == nil {
			return errors.New("config DB not reachable yet: connecting")
		}
		return fmt.Errorf("config DB not reachable: %w", connErr)
	}
	return settings.Ping(ctx, r.Env, client)
}

// Run serves HTTP and runs lead, under leader election when enabled, until
// ctx ends. It returns nil on a clean stop. lead may be called again after
// it returned for a lost leadership, so it must build what ends with its
// context (work queues, informers started with it) anew each time.
func (r *Runtime) Run(ctx context.Context, lead func(ctx context.Context) error) error {
	return r.run(ctx, func(*Runtime) (func(ctx context.Context) error, error) { return lead, nil })
}

// run is Run with the leader function built by setup once the config DB
// client is there (see connect), while HTTP is already served.
func (r *Runtime) run(ctx context.Context, setup func(rt *Runtime) (func(ctx context.Context) error, error)) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Health.Serve(gctx) })
	g.Go(func() error {
		if err := r.connect(gctx); err != nil {
			return err
		}
		if gctx.Err() != nil {
			return nil
		}
		lead, err := setup(r)
		if err != nil {
			return fmt.Errorf("cannot start: %w", err)
		}
		r.setUp.Store(true)
		if !r.opts.LeaderElect {
			r.isLeader.Set(1)
			return lead(gctx)
		}
		return leader.Run(gctx, leader.Config{
			Client:   r.Client,
			Key:      leader.ElectionKey(r.Env.ConfigPrefix, r.Name),
			Identity: r.opts.Identity,
			TTL:      r.opts.LeaderTTL,
			Log:      r.Log,
			IsLeader: r.isLeader,
			Metrics:  r.Fencing,
		}, lead)
	})
	err := g.Wait()
	if ctx.Err() != nil && err == nil {
		r.Log.Info("stopped", "reason", context.Cause(ctx))
	}
	return err
}

// Close releases the etcd client, if it was built.
func (r *Runtime) Close() {
	r.connMu.Lock()
	defer r.connMu.Unlock()
	if r.Client != nil {
		_ = r.Client.Close()
	}
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
		if bi.Main.Version != "" {
			return bi.Main.Version
		}
	}
	return "unknown"
}

// Main runs a service's main: it parses the flags, starts the runtime,
// builds the service's leader function with setup and runs it. It exits 0 on
// SIGTERM/SIGINT and 1 on a failure, logged.
func Main(name string, bind func(fs *flag.FlagSet), setup func(rt *Runtime) (func(ctx context.Context) error, error)) {
	var opts Options
	opts.Bind(flag.CommandLine)
	if bind != nil {
		bind(flag.CommandLine)
	}
	flag.Parse()
	ctx, stop := SignalContext()
	defer stop()
	rt, err := Start(name, opts)
	if err != nil {
		slog.Error("cannot start", "error", err)
		os.Exit(1)
	}
	defer rt.Close()
	rt.ctx = ctx
	// client-go logs through klog, which is global to the process: routed
	// here, once, so that every line of every service is in its logger's format.
	klog.SetSlogLogger(rt.Log.With("component", "client-go"))
	if err := rt.run(ctx, setup); err != nil {
		rt.Log.Error("failed", "error", err)
		rt.Close()
		os.Exit(1)
	}
}
