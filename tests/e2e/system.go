package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/prometheus"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
	"github.com/ska-telescope/sdp-helmdeploy/tests/observability"
)

// Config says where the system's parts come from.
type Config struct {
	// Root is the repository root: services/, charts/, deploy/.
	Root string
	// Dir is the work directory: binaries, logs, etcd data, chart repo.
	Dir string
	// CP is the running control plane (kube-apiserver with controller
	// manager, scheduler and kwok).
	CP *localcp.ControlPlane
	// Settings are the services' container settings (FromChart or
	// HandWritten).
	Settings map[string]Settings
	// Namespace, when set, replaces the chart's processing namespace.
	Namespace string
	// RuleScale divides the alert rules' durations for Prometheus
	// (observability.ScaledRules); zero is DefaultRuleScale.
	RuleScale RuleScale
}

// RuleScale is how the shipped alert rules are cut down for a run of
// minutes: every `for` and range window divided by Factor, not below
// Floor.
type RuleScale struct {
	Factor float64
	Floor  time.Duration
}

// DefaultRuleScale turns the rules' minutes into seconds (for: 1m is 1 s,
// raised to the floor): a leaderless failover (up to the 10 s lease), the
// config DB or API server away, a release pending for 15 s fire their
// alerts within the chaos run. The floor keeps five 1 s scrapes in a rate
// window and makes a `for` outlast a single failed scrape.
var DefaultRuleScale = RuleScale{Factor: 60, Floor: 5 * time.Second}

// PrometheusInterval is the scrape and rule evaluation interval.
const PrometheusInterval = time.Second

// System is the Helm Deployer running as deployed, with its config DB, a
// chart repository and the control plane.
type System struct {
	Config
	// ConfigDB is the config DB cluster; the services reach each member
	// through its proxy.
	ConfigDB *ConfigDB
	// RepoURL is the chart repository of charts/examples.
	RepoURL string
	// Env is the SDP_* environment the release-manager runs with.
	Env settings.Env
	// Store reaches the config DB's members directly (not through the
	// proxies).
	Store *configdb.Store
	Kube  kubernetes.Interface
	// logsDumped says a failed run has shown the replicas' log tails
	// already.
	logsDumped bool

	Replicas map[string][]*Replica

	// Prom scrapes every replica, one job per service (named after it, as
	// the rules assume), and evaluates the scaled alert rules in Rules.
	Prom  *prometheus.Server
	Rules string

	stopRepo func()
	bins     map[string]string
}

// Replica is one process of a service.
type Replica struct {
	Service, Name string
	args, env     []string
	dir           string

	// httpAddr is the fixed loopback address of every start.
	httpAddr string

	mu       sync.Mutex
	proc     *proc.Process
	starts   int
	addr     string
	logPaths []string
}

// Build compiles the three service binaries into dir.
func Build(root, dir string) (map[string]string, error) {
	bins := map[string]string{}
	for _, s := range Services {
		out := filepath.Join(dir, s)
		cmd := exec.Command("go", "build", "-o", out, "./cmd/"+s)
		cmd.Dir = filepath.Join(root, "services", s)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", s, err, b)
		}
		bins[s] = out
	}
	return bins, nil
}

// Start starts the config DB, the chart repository and every replica of
// every service, and waits until one replica of each leads and all are
// ready. On error, what was started is stopped.
func Start(ctx context.Context, cfg Config, bins map[string]string) (s *System, err error) {
	s = &System{Config: cfg, bins: bins, Replicas: map[string][]*Replica{}}
	defer func() {
		if err != nil {
			s.Stop()
			s = nil
		}
	}()
	for _, d := range []string{"etcd", "logs", "charts", "home"} {
		if err := os.MkdirAll(filepath.Join(cfg.Dir, d), 0o755); err != nil {
			return s, err
		}
	}
	if s.ConfigDB, err = StartConfigDB(ctx, filepath.Join(localcp.DefaultBinDir(), "etcd"), filepath.Join(cfg.Dir, "etcd"), ConfigDBMembers); err != nil {
		return s, fmt.Errorf("config DB: %w", err)
	}
	if s.RepoURL, s.stopRepo, err = testrepo.ServeCharts(filepath.Join(cfg.Root, "charts", "examples"), filepath.Join(cfg.Dir, "charts")); err != nil {
		return s, fmt.Errorf("chart repository: %w", err)
	}
	if s.Kube, err = kubernetes.NewForConfig(cfg.CP.RESTConfig()); err != nil {
		return s, err
	}
	// Every member through its proxy, as a cluster's members are listed in
	// SDP_CONFIG_HOST; each item carries its port.
	_, proxyPort, _ := net.SplitHostPort(s.ConfigDB.Proxies[0].Addr)
	port, _ := strconv.Atoi(proxyPort)
	nReplicas := 0
	for _, name := range Services {
		nReplicas += max(cfg.Settings[name].Replicas, 2)
	}
	httpPorts, err := fixedPorts(nReplicas)
	if err != nil {
		return s, fmt.Errorf("replicas' HTTP ports: %w", err)
	}
	for _, name := range Services {
		set, ok := cfg.Settings[name]
		if !ok {
			return s, fmt.Errorf("no settings for %s", name)
		}
		n := max(set.Replicas, 2)
		for i := range n {
			r := &Replica{Service: name, Name: fmt.Sprintf("%s-%d", name, i), dir: filepath.Join(cfg.Dir, "home", fmt.Sprintf("%s-%d", name, i))}
			r.httpAddr, httpPorts = net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPorts[0])), httpPorts[1:]
			if err := os.MkdirAll(r.dir, 0o755); err != nil {
				return s, err
			}
			r.args, r.env, err = set.Command(Overrides{
				ConfigHost: s.ConfigDB.ProxyHosts(), ConfigPort: port, ChartRepoURL: s.RepoURL,
				Kubeconfig: cfg.CP.KubeconfigPath, Home: r.dir, Identity: r.Name, Namespace: cfg.Namespace,
				HTTPAddr: r.httpAddr,
			})
			if err != nil {
				return s, err
			}
			s.Replicas[name] = append(s.Replicas[name], r)
		}
	}
	if s.Env, err = settings.Parse(envLookup(s.Replicas["release-manager"][0].env)); err != nil {
		return s, fmt.Errorf("release-manager environment: %w", err)
	}
	direct := s.Env
	var members []string
	for _, m := range s.ConfigDB.Members {
		members = append(members, strings.TrimPrefix(m.Endpoint, "http://"))
	}
	direct.ConfigHost = strings.Join(members, ",")
	client, err := settings.NewClient(direct)
	if err != nil {
		return s, err
	}
	if s.Store, err = configdb.NewStore(client, s.Env.ConfigPrefix); err != nil {
		return s, err
	}
	if err := manifests.Apply(ctx, cfg.CP.RESTConfig(), filepath.Join(cfg.Root, "deploy"), discardLog()); err != nil {
		return s, fmt.Errorf("apply deploy/: %w", err)
	}
	if err := ensureNamespace(ctx, s.Kube, s.Env.HelmNamespace); err != nil {
		return s, err
	}
	// Prometheus first, so that it sees the services from their start.
	if err := s.startPrometheus(ctx); err != nil {
		return s, err
	}
	for _, name := range Services {
		for _, r := range s.Replicas[name] {
			if err := r.Start(s.bins[name]); err != nil {
				return s, err
			}
		}
	}
	for _, name := range Services {
		if _, err := s.WaitLeader(ctx, name, nil, 2*time.Minute); err != nil {
			return s, err
		}
		for _, r := range s.Replicas[name] {
			if err := r.WaitReady(ctx, time.Minute); err != nil {
				return s, err
			}
		}
	}
	if err := s.Prom.WaitScraped(ctx); err != nil {
		return s, fmt.Errorf("prometheus (log %s): %w", s.Prom.LogPath(), err)
	}
	return s, nil
}

// startPrometheus starts Prometheus on loopback with a scrape job per
// service over the replicas' fixed addresses and the alert rules scaled by
// cfg.RuleScale. A missing binary is an error: the run checks the alerts.
func (s *System) startPrometheus(ctx context.Context) error {
	scale := s.RuleScale
	if scale.Factor == 0 {
		scale = DefaultRuleScale
	}
	s.RuleScale = scale
	dir := filepath.Join(s.Dir, "prometheus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var err error
	if s.Rules, err = observability.ScaledRules(dir, scale.Factor, scale.Floor); err != nil {
		return fmt.Errorf("alert rules: %w", err)
	}
	s.Prom, err = prometheus.Start(ctx, prometheus.Options{
		Dir: dir, Targets: s.Targets(), RuleFiles: []string{s.Rules}, ScrapeInterval: PrometheusInterval,
	})
	if err != nil {
		return fmt.Errorf("prometheus (make prometheus-binaries installs it): %w", err)
	}
	return nil
}

// Targets are the scrape targets: every replica's fixed address, by
// service.
func (s *System) Targets() map[string][]string {
	t := map[string][]string{}
	for _, name := range Services {
		for _, r := range s.Replicas[name] {
			t[name] = append(t[name], r.httpAddr)
		}
	}
	return t
}

// Stop stops every replica (SIGTERM, SIGKILL after 15 s), Prometheus, the
// chart repository, the proxies and the config DB's members. It can be
// called more than once.
func (s *System) Stop() []error {
	var errs []error
	for _, name := range Services {
		for _, r := range s.Replicas[name] {
			if err := r.Stop(15 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.Prom != nil {
		if err := s.Prom.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("prometheus: %w", err))
		}
	}
	if s.stopRepo != nil {
		s.stopRepo()
	}
	if s.Store != nil {
		_ = s.Store.Client().Close()
	}
	if s.ConfigDB != nil {
		if err := s.ConfigDB.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Start starts the replica's process (again), logging to a new file.
func (r *Replica) Start(bin string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	log := filepath.Join(filepath.Dir(r.dir), "..", "logs", fmt.Sprintf("%s.%d.log", r.Name, r.starts))
	p, err := proc.Start(proc.Options{Name: r.Name, Bin: bin, Args: r.args, Env: r.env, LogPath: log, Header: true})
	if err != nil {
		return err
	}
	r.proc, r.addr = p, ""
	r.logPaths = append(r.logPaths, p.LogPath)
	return nil
}

// Proc is the current process.
func (r *Replica) Proc() *proc.Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

// LogPaths are the log files of every start, oldest first.
func (r *Replica) LogPaths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.logPaths...)
}

// Stop stops the current process.
func (r *Replica) Stop(grace time.Duration) error {
	if p := r.Proc(); p != nil {
		return p.Stop(grace)
	}
	return nil
}

// Kill kills the current process with SIGKILL.
func (r *Replica) Kill() {
	if p := r.Proc(); p != nil {
		p.Kill()
	}
}

// Addr is the HTTP address the current process logged, or "".
func (r *Replica) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.addr != "" || r.proc == nil {
		return r.addr
	}
	r.addr = servicetest.ServingAddr(r.proc.Log())
	return r.addr
}

func (r *Replica) get(path string) (int, string, error) {
	addr := r.Addr()
	if addr == "" {
		return 0, "", errors.New("not serving yet")
	}
	return servicetest.Get("http://" + addr + path)
}

// Leading reports whether the replica's sdp_helmdeploy_leader gauge is 1.
func (r *Replica) Leading() bool {
	addr := r.Addr()
	if addr == "" {
		return false
	}
	m, err := metrics.Scrape("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	v, ok := m.Value("sdp_helmdeploy_leader")
	return ok && v == 1
}

// WaitReady waits until /readyz answers 200.
func (r *Replica) WaitReady(ctx context.Context, timeout time.Duration) error {
	return eventually.Poll(ctx, timeout, 50*time.Millisecond, func(context.Context) error {
		if p := r.Proc(); p.Exited() {
			return eventually.Stop(fmt.Errorf("%s exited (%v); see %s", r.Name, p.Err(), p.LogPath))
		}
		code, body, err := r.get("/readyz")
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("%s /readyz: %d %q %v", r.Name, code, body, err)
		}
		return nil
	})
}

// Leader returns the replica of service that leads, or nil.
func (s *System) Leader(service string) *Replica {
	for _, r := range s.Replicas[service] {
		if !r.Proc().Exited() && r.Leading() {
			return r
		}
	}
	return nil
}

// WaitLeader waits until a replica of service other than not leads.
func (s *System) WaitLeader(ctx context.Context, service string, not *Replica, timeout time.Duration) (*Replica, error) {
	var leader *Replica
	err := eventually.Poll(ctx, timeout, 20*time.Millisecond, func(context.Context) error {
		for _, r := range s.Replicas[service] {
			if r != not && !r.Proc().Exited() && r.Leading() {
				leader = r
				return nil
			}
		}
		return fmt.Errorf("no replica of %s leads", service)
	})
	return leader, err
}

// Bin is the binary of a service.
func (s *System) Bin(service string) string { return s.bins[service] }
