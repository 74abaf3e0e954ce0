package prometheus

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// start starts a server or skips when the binary is missing, unless
// SDP_REQUIRE_PROMETHEUS is set.
func start(t *testing.T, ctx context.Context, opts Options) *Server {
	t.Helper()
	s, err := Start(ctx, opts)
	if errors.Is(err, ErrNotInstalled) && os.Getenv("SDP_REQUIRE_PROMETHEUS") == "" {
		t.Skipf("%v (set SDP_REQUIRE_PROMETHEUS=1 to fail instead)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestScrapeQueryAlertStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	reg := promclient.NewRegistry()
	g := promclient.NewGauge(promclient.GaugeOpts{Name: "sdp_test_value", Help: "A value the test sets."})
	reg.MustRegister(g)
	g.Set(42)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer target.Close()

	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(`groups:
- name: test
  rules:
  - alert: ValueHigh
    expr: sdp_test_value > 40
  - alert: ValueLow
    expr: sdp_test_value < 40
`), 0o644); err != nil {
		t.Fatal(err)
	}

	s := start(t, ctx, Options{
		Targets:   map[string][]string{"test": {strings.TrimPrefix(target.URL, "http://")}},
		RuleFiles: []string{rules},
	})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s: want loopback", s.URL())
	}
	if err := s.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := s.Query(ctx, `sdp_test_value{job="test"}`)
	if err != nil {
		t.Fatal(err)
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 1 || vec[0].Value != 42 {
		t.Fatalf("sdp_test_value: got %v, want one sample of 42", v)
	}

	if _, err := s.Query(ctx, `sum by (job (sdp_test_value)`); err == nil {
		t.Error("a query that does not parse: no error")
	}

	// The alert fires on the first evaluation after the scrape (no "for").
	var firing []string
	_ = eventually.Poll(ctx, 0, 200*time.Millisecond, func(ctx context.Context) error {
		if firing, err = s.Firing(ctx); err != nil {
			t.Fatal(err)
		}
		if len(firing) == 0 {
			return errors.New("no alert firing yet")
		}
		return nil
	})
	if len(firing) != 1 || firing[0] != "ValueHigh" {
		t.Fatalf("firing %v, want [ValueHigh]", firing)
	}

	addr := strings.TrimPrefix(s.URL(), "http://")
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still listening after Stop", addr)
	}
}

func TestSetTargets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := start(t, ctx, Options{Dir: t.TempDir()})
	target := httptest.NewServer(promhttp.HandlerFor(promclient.NewRegistry(), promhttp.HandlerOpts{}))
	defer target.Close()
	if err := s.SetTargets(ctx, map[string][]string{"later": {strings.TrimPrefix(target.URL, "http://")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := s.Query(ctx, `up{job="later"}`)
	if err != nil {
		t.Fatal(err)
	}
	if vec, ok := v.(model.Vector); !ok || len(vec) != 1 || vec[0].Value != 1 {
		t.Fatalf(`up{job="later"}: got %v, want 1`, v)
	}
}

func TestStartBadBinary(t *testing.T) {
	_, err := Start(context.Background(), Options{Binary: "sdp-no-such-prometheus"})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("got %v, want ErrNotInstalled", err)
	}
}

func TestStartBadRuleFile(t *testing.T) {
	if _, err := Binary(""); err != nil && os.Getenv("SDP_REQUIRE_PROMETHEUS") == "" {
		t.Skip(err)
	}
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte("groups:\n- name: x\n  rules:\n  - alert: A\n    expr: sum(\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{RuleFiles: []string{rules}})
	if err == nil {
		s.Stop()
		t.Fatal("a rule file that does not parse: Prometheus started")
	}
	if !strings.Contains(err.Error(), "exited") {
		t.Errorf("error %v: want the early exit with the log", err)
	}
}
