package health

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Inc()
	s := New("127.0.0.1:0", reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var etcdDown bool
	s.AddReadiness("etcd", func(context.Context) error {
		if etcdDown {
			return errors.New("unreachable")
		}
		return nil
	})
	s.AddLiveness("loop", func(context.Context) error { return nil })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		path     string
		down     bool
		code     int
		contains string
	}{
		{"/healthz", false, 200, "ok"},
		{"/readyz", false, 200, "ok"},
		{"/readyz", true, 503, "etcd: unreachable"},
		{"/healthz", true, 200, "ok"},
		{"/metrics", false, 200, "test_things_total 1"},
	}
	for _, tt := range tests {
		etcdDown = tt.down
		code, body := get(tt.path)
		if code != tt.code || !strings.Contains(body, tt.contains) {
			t.Errorf("%s (etcd down %v): %d %q", tt.path, tt.down, code, body)
		}
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		t.Error("still serving")
	}
}

// Profiles are served only when SDP_PPROF=true: off by default.
func TestProfilesOnlyWhenAsked(t *testing.T) {
	for _, tt := range []struct {
		env  string
		code int
	}{{"", 404}, {"false", 404}, {"true", 200}} {
		t.Setenv("SDP_PPROF", tt.env)
		s := New("127.0.0.1:0", prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		srv := httptest.NewServer(s.Handler())
		resp, err := http.Get(srv.URL + "/debug/pprof/heap")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("SDP_PPROF=%q: /debug/pprof/heap %d, want %d", tt.env, resp.StatusCode, tt.code)
		}
	}
}
