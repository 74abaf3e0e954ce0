// Package prometheus runs a real Prometheus server on loopback for tests and
// the demo: static scrape targets, the project's alert rules, a short scrape
// and evaluation interval, a TSDB in a directory of its own; and queries it
// through its HTTP API. The binary is Debian's prometheus package, installed
// pinned by scripts/install-prometheus.sh (make prometheus-binaries).
//
// It is part of the test kit, which requires nothing of the product;
// docs/architecture.md, §1. The rooms.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
)

// ErrNotInstalled is returned by Start when the prometheus binary is not
// found; tests skip on it unless SDP_REQUIRE_PROMETHEUS is set.
var ErrNotInstalled = errors.New("prometheus binary not found (make prometheus-binaries installs it)")

// Options configure a Server. Only Targets is usually needed.
type Options struct {
	// Dir holds the generated configuration, the TSDB and the log
	// (prometheus.log). Empty: a temporary directory, removed by Stop.
	Dir string
	// Targets are the static scrape targets, host:port by job name; each
	// target is scraped on /metrics over plain HTTP.
	Targets map[string][]string
	// RuleFiles are rule files (absolute paths) loaded at start.
	RuleFiles []string
	// ScrapeInterval is also the rule evaluation interval; default 1s.
	ScrapeInterval time.Duration
	// Binary is the prometheus executable; default "prometheus" on PATH.
	Binary string
	// ReadyTimeout bounds the wait for /-/ready; default 60s.
	ReadyTimeout time.Duration
}

// Server is a running Prometheus.
type Server struct {
	proc    *proc.Process
	url     string
	dir     string
	tempDir bool
	api     v1.API
	opts    Options

	mu      sync.Mutex
	stopped bool
}

// Binary returns the path of the prometheus executable of opts, or
// ErrNotInstalled.
func Binary(name string) (string, error) {
	if name == "" {
		name = "prometheus"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	return p, nil
}

// Start writes the configuration, starts Prometheus on a free loopback port
// and waits until it answers /-/ready. The caller must Stop it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := Binary(opts.Binary)
	if err != nil {
		return nil, err
	}
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = time.Second
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	s := &Server{opts: opts, dir: opts.Dir}
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "sdp-prometheus-"); err != nil {
			return nil, fmt.Errorf("prometheus directory: %w", err)
		}
		s.tempDir = true
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("prometheus directory: %w", err)
	}
	if err := s.writeConfig(opts.Targets); err != nil {
		s.cleanup()
		return nil, err
	}
	// The port is chosen by binding :0 and releasing it, so another process
	// may take it before Prometheus binds; a start that fails is retried on
	// a new port.
	var lastErr error
	for range 3 {
		if lastErr = s.start(ctx, bin); lastErr == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	s.cleanup()
	return nil, lastErr
}

func (s *Server) start(ctx context.Context, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{
		"--config.file=" + s.configPath(),
		"--storage.tsdb.path=" + filepath.Join(s.dir, "data"),
		"--web.listen-address=" + addr,
		// Reload by HTTP POST, so that SetTargets need not know the PID.
		"--web.enable-lifecycle",
		"--log.level=info",
	}
	p, err := proc.Start(proc.Options{Name: "prometheus", Bin: bin, Args: args, LogPath: filepath.Join(s.dir, "prometheus.log")})
	if err != nil {
		return err
	}
	s.proc = p
	s.url = "http://" + addr
	client, err := api.NewClient(api.Config{Address: s.url})
	if err != nil {
		_ = p.Stop(5 * time.Second)
		return fmt.Errorf("prometheus API client: %w", err)
	}
	s.api = v1.NewAPI(client)
	rctx, cancel := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	defer cancel()
	if err := s.waitReady(rctx); err != nil {
		_ = p.Stop(5 * time.Second)
		return err
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = s.get(ctx, "/-/ready")
		if last == nil {
			return nil
		}
		select {
		case <-s.proc.Done():
			return fmt.Errorf("prometheus exited before ready (%v); log %s:\n%s", s.proc.Err(), s.proc.LogPath, tail(s.proc.LogPath))
		case <-ctx.Done():
			return fmt.Errorf("prometheus not ready at %s: %w (last: %v); log %s:\n%s", s.url, ctx.Err(), last, s.proc.LogPath, tail(s.proc.LogPath))
		case <-tick.C:
		}
	}
}

func (s *Server) get(ctx context.Context, path string) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}

// config is the part of Prometheus's configuration file written here.
type config struct {
	Global        globalConfig   `json:"global"`
	RuleFiles     []string       `json:"rule_files,omitempty"`
	ScrapeConfigs []scrapeConfig `json:"scrape_configs"`
}

type globalConfig struct {
	ScrapeInterval     string `json:"scrape_interval"`
	ScrapeTimeout      string `json:"scrape_timeout"`
	EvaluationInterval string `json:"evaluation_interval"`
}

type scrapeConfig struct {
	JobName       string         `json:"job_name"`
	StaticConfigs []staticConfig `json:"static_configs"`
}

type staticConfig struct {
	Targets []string `json:"targets"`
}

func (s *Server) configPath() string { return filepath.Join(s.dir, "prometheus.yml") }

func (s *Server) writeConfig(targets map[string][]string) error {
	interval := model.Duration(s.opts.ScrapeInterval).String()
	c := config{
		Global:    globalConfig{ScrapeInterval: interval, ScrapeTimeout: interval, EvaluationInterval: interval},
		RuleFiles: s.opts.RuleFiles,
	}
	jobs := make([]string, 0, len(targets))
	for j := range targets {
		jobs = append(jobs, j)
	}
	sort.Strings(jobs)
	for _, j := range jobs {
		t := append([]string{}, targets[j]...)
		sort.Strings(t)
		c.ScrapeConfigs = append(c.ScrapeConfigs, scrapeConfig{JobName: j, StaticConfigs: []staticConfig{{Targets: t}}})
	}
	if c.ScrapeConfigs == nil {
		c.ScrapeConfigs = []scrapeConfig{}
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("prometheus configuration: %w", err)
	}
	// Written beside and renamed, so that a reload never reads half a file.
	tmp := s.configPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("prometheus configuration: %w", err)
	}
	if err := os.Rename(tmp, s.configPath()); err != nil {
		return fmt.Errorf("prometheus configuration: %w", err)
	}
	return nil
}

// SetTargets replaces the scrape targets (services restarted on other
// ports, say) and reloads the configuration.
func (s *Server) SetTargets(ctx context.Context, targets map[string][]string) error {
	if err := s.writeConfig(targets); err != nil {
		return err
	}
	s.mu.Lock()
	s.opts.Targets = targets
	s.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/-/reload", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("prometheus reload: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("prometheus reload: %s; log %s:\n%s", resp.Status, s.proc.LogPath, tail(s.proc.LogPath))
	}
	return nil
}

// URL is the server's base address, http://127.0.0.1:<port>.
func (s *Server) URL() string { return s.url }

// Dir is the directory of its configuration, TSDB and log.
func (s *Server) Dir() string { return s.dir }

// LogPath is Prometheus's own log.
func (s *Server) LogPath() string { return s.proc.LogPath }

// PID is the process id of the server.
func (s *Server) PID() int { return s.proc.PID() }

// API is the client of the HTTP API, for what the helpers below do not cover.
func (s *Server) API() v1.API { return s.api }

// Query evaluates an instant query now. A query that does not parse is an
// error (Prometheus answers bad_data with the parser's message).
func (s *Server) Query(ctx context.Context, promql string) (model.Value, error) {
	v, _, _, err := s.api.Query(ctx, promql, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", promql, err)
	}
	return v, nil
}

// QueryRange evaluates a range query over [start, end] at step.
func (s *Server) QueryRange(ctx context.Context, promql string, start, end time.Time, step time.Duration) (model.Value, error) {
	v, _, _, err := s.api.QueryRange(ctx, promql, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", promql, err)
	}
	return v, nil
}

// Alerts returns the alerts now pending or firing.
func (s *Server) Alerts(ctx context.Context) ([]v1.Alert, error) {
	r, err := s.api.Alerts(ctx)
	if err != nil {
		return nil, fmt.Errorf("prometheus alerts: %w", err)
	}
	return r.Alerts, nil
}

// Firing returns the names of the alerts now firing (not pending), sorted,
// each once.
func (s *Server) Firing(ctx context.Context) ([]string, error) {
	alerts, err := s.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, a := range alerts {
		n := string(a.Labels[model.AlertNameLabel])
		if a.State == v1.AlertStateFiring && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Rules returns the rule groups loaded, with their rules' health and
// last error: a rule that does not evaluate shows there.
func (s *Server) Rules(ctx context.Context) ([]v1.RuleGroup, error) {
	r, err := s.api.Rules(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("prometheus rules: %w", err)
	}
	return r.Groups, nil
}

// WaitScraped waits until every configured target has been scraped
// successfully at least once, so that queries see its series.
func (s *Server) WaitScraped(ctx context.Context) error {
	s.mu.Lock()
	want := 0
	for _, t := range s.opts.Targets {
		want += len(t)
	}
	s.mu.Unlock()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := s.api.Targets(ctx)
		var last string
		if err == nil {
			up := 0
			for _, t := range r.Active {
				if t.Health == v1.HealthGood {
					up++
				} else {
					last = fmt.Sprintf("%s %s: %s %s", t.ScrapePool, t.ScrapeURL, t.Health, t.LastError)
				}
			}
			if up >= want && len(r.Active) >= want {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus targets not all scraped: %w (last: %s)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// Stop ends the server (SIGTERM to its PID, SIGKILL after 10s) and removes
// its directory if Start made a temporary one. It is safe to call twice.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	err := s.proc.Stop(10 * time.Second)
	s.cleanup()
	return err
}

func (s *Server) cleanup() {
	if s.tempDir {
		_ = os.RemoveAll(s.dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	const n = 3000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
