// Package health serves what every service exposes over HTTP: Prometheus
// metrics on /metrics, liveness on /healthz and readiness on /readyz; and,
// only with SDP_PPROF=true in the environment, Go's profiles on
// /debug/pprof/ (off by default: a profile shows the process's internals
// and costs CPU while it is taken).
//
// service serves it for every main; docs/architecture.md, §1. The rooms.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports a problem, or nil when all is well.
type Check func(ctx context.Context) error

// Server is the services' HTTP endpoint.
type Server struct {
	addr     string
	gatherer prometheus.Gatherer
	log      *slog.Logger

	mu        sync.Mutex
	liveness  map[string]Check
	readiness map[string]Check
	listener  net.Listener
}

// New returns a server for addr (":8080", "127.0.0.1:0").
func New(addr string, gatherer prometheus.Gatherer, log *slog.Logger) *Server {
	return &Server{addr: addr, gatherer: gatherer, log: log, liveness: map[string]Check{}, readiness: map[string]Check{}}
}

// AddLiveness adds a check to /healthz: a failure there means "restart me".
func (s *Server) AddLiveness(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.liveness[name] = c
}

// AddReadiness adds a check to /readyz: a failure there means "do not count
// on me yet".
func (s *Server) AddReadiness(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readiness[name] = c
}

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { s.serveChecks(w, r, s.snapshot(s.liveness)) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { s.serveChecks(w, r, s.snapshot(s.readiness)) })
	if os.Getenv("SDP_PPROF") == "true" {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (s *Server) snapshot(m map[string]Check) map[string]Check {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(map[string]Check, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// serveChecks answers 200 "ok" or 503 with one line per failing check.
func (s *Server) serveChecks(w http.ResponseWriter, r *http.Request, checks map[string]Check) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	var failed []string
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", n, err))
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(failed, "\n"))
		return
	}
	fmt.Fprintln(w, "ok")
}

// Listen binds the address; Addr is known after it.
func (s *Server) Listen() error {
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	s.mu.Lock()
	s.listener = l
	s.mu.Unlock()
	return nil
}

// Addr is the bound address.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return s.addr
	}
	return s.listener.Addr().String()
}

// Serve serves until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	if s.listener == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.listener) }()
	s.log.Info("serving metrics and health", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	return nil
}
