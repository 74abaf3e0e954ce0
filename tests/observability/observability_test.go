package observability

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"sigs.k8s.io/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/prometheus"
)

// required: without SDP_REQUIRE_PROMETHEUS a missing Prometheus skips
// (make prometheus-binaries installs it; make test sets the variable).
func required() bool { return os.Getenv("SDP_REQUIRE_PROMETHEUS") != "" }

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if required() {
			t.Fatalf("promtool: %v (make prometheus-binaries)", err)
		}
		t.Skipf("promtool: %v (make prometheus-binaries; SDP_REQUIRE_PROMETHEUS=1 fails instead)", err)
	}
	return p
}

func startPrometheus(t *testing.T, ctx context.Context, opts prometheus.Options) *prometheus.Server {
	t.Helper()
	s, err := prometheus.Start(ctx, opts)
	if errors.Is(err, prometheus.ErrNotInstalled) && !required() {
		t.Skipf("%v (SDP_REQUIRE_PROMETHEUS=1 fails instead)", err)
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

// runPromtool runs promtool in dir and fails the test with its output if
// it fails.
func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

// The shipped rules pass `promtool check rules` (syntax, PromQL, templates).
func TestRulesCheck(t *testing.T) {
	runPromtool(t, filepath.Dir(RulesPath()), "check", "rules", filepath.Base(RulesPath()))
}

// The unit tests of the rules (deploy/prometheus/tests) pass `promtool test
// rules`: every alert fires where it should, with its labels and rendered
// annotations, and stays quiet where it should.
func TestRulesUnit(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(filepath.Dir(RulesPath()), "tests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule tests in deploy/prometheus/tests (%v)", err)
	}
	args := []string{"test", "rules"}
	for _, f := range files {
		args = append(args, filepath.Join("tests", filepath.Base(f)))
	}
	runPromtool(t, filepath.Dir(RulesPath()), args...)
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

type ruleTests struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		Name  string `json:"name"`
		Tests []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

var severities = []string{"critical", "warning"}

// Every alert carries what an operator needs (a severity, a summary, a
// description and a runbook line) and has unit tests both ways: one where
// it fires and one where it stays quiet. An alert added without its tests
// fails here, not silently.
func TestRulesComplete(t *testing.T) {
	b, err := os.ReadFile(RulesPath())
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(b, &rf); err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if alerts[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			alerts[r.Alert] = true
			if !slices.Contains(severities, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q, want one of %v", r.Alert, r.Labels["severity"], severities)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s has no %s annotation", r.Alert, a)
				}
			}
		}
	}
	if len(alerts) == 0 {
		t.Fatal("no alerts in the rules file")
	}

	fires, quiet := map[string]bool{}, map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(RulesPath()), "tests", "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rt ruleTests
		if err := yaml.Unmarshal(b, &rt); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range rt.Tests {
			for _, c := range tc.Tests {
				if !alerts[c.Alertname] {
					t.Errorf("%s: test %q checks alert %s, which the rules do not have", filepath.Base(f), tc.Name, c.Alertname)
				}
				if len(c.ExpAlerts) > 0 {
					fires[c.Alertname] = true
				} else {
					quiet[c.Alertname] = true
				}
			}
		}
	}
	for a := range alerts {
		if !fires[a] {
			t.Errorf("alert %s has no unit test where it fires", a)
		}
		if !quiet[a] {
			t.Errorf("alert %s has no unit test where it stays quiet", a)
		}
	}
}

// The rules load into a real Prometheus and evaluate without error (a
// rule may pass promtool and still fail at evaluation, e.g. on
// many-to-many matching).
func TestRulesLoadAndEvaluate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startPrometheus(t, ctx, prometheus.Options{RuleFiles: []string{RulesPath()}})
	var loaded int
	err := eventually.Poll(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) error {
		groups, err := srv.Rules(ctx)
		if err != nil {
			return eventually.Stop(err)
		}
		n, evaluated, bad := 0, 0, []string{}
		for _, g := range groups {
			for _, r := range g.Rules {
				a, ok := r.(v1.AlertingRule)
				if !ok {
					continue
				}
				n++
				if !a.LastEvaluation.IsZero() {
					evaluated++
				}
				if a.Health == v1.RuleHealthBad {
					bad = append(bad, fmt.Sprintf("%s: %s", a.Name, a.LastError))
				}
			}
		}
		if n == 0 || evaluated < n {
			return fmt.Errorf("%d of %d alerting rules evaluated", evaluated, n)
		}
		if len(bad) > 0 {
			return eventually.Stop(fmt.Errorf("rules not healthy: %v", bad))
		}
		loaded = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d alerting rules loaded and evaluated", loaded)
}

// Every panel query of the dashboard parses, as the real Prometheus reads
// it (Grafana variables expanded).
func TestDashboardQueriesParse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startPrometheus(t, ctx, prometheus.Options{})
	queries, err := DashboardQueries(DashboardPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d panel queries", len(queries))
	for _, p := range CheckDashboard(ctx, srv, DashboardPath(), CheckOptions{ParseOnly: true}) {
		t.Error(p)
	}
}

var metricName = regexp.MustCompile(`\bsdp_helmdeploy_[a-z0-9_]+\b`)

// fakeTarget serves one series of every sdp_helmdeploy metric the dashboard
// names (histograms for _bucket/_sum/_count, counters for _total, gauges
// otherwise), with a sample each, so that every well-formed panel query
// has something to return.
func fakeTarget(t *testing.T, dashboardPath string) string {
	t.Helper()
	queries, err := DashboardQueries(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	reg := promclient.NewRegistry()
	seen := map[string]bool{}
	for _, q := range queries {
		for _, name := range metricName.FindAllString(q.Expr, -1) {
			base := name
			kind := "gauge"
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, s); ok {
					base, kind = b, "histogram"
				}
			}
			if kind == "gauge" && strings.HasSuffix(name, "_total") {
				kind = "counter"
			}
			if seen[base] {
				continue
			}
			seen[base] = true
			switch kind {
			case "histogram":
				h := promclient.NewHistogram(promclient.HistogramOpts{Name: base, Help: "test"})
				reg.MustRegister(h)
				h.Observe(0.01)
			case "counter":
				c := promclient.NewCounter(promclient.CounterOpts{Name: base, Help: "test"})
				reg.MustRegister(c)
				c.Inc()
			default:
				g := promclient.NewGauge(promclient.GaugeOpts{Name: base, Help: "test"})
				reg.MustRegister(g)
				g.Set(1)
			}
		}
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// CheckDashboard finds each panel query that returns no series, and only
// those: against a Prometheus scraping a target that serves every metric
// the shipped dashboard names, the shipped dashboard has no problem, and a
// copy with one metric misspelt has exactly that panel's query reported.
func TestCheckDashboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := startPrometheus(t, ctx, prometheus.Options{
		Targets: map[string][]string{"fake": {fakeTarget(t, DashboardPath())}},
	})
	if err := srv.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}
	// rate() needs two samples in its window.
	time.Sleep(3 * time.Second)

	for _, p := range CheckDashboard(ctx, srv, DashboardPath()) {
		t.Errorf("shipped dashboard: %v", p)
	}

	b, err := os.ReadFile(DashboardPath())
	if err != nil {
		t.Fatal(err)
	}
	const right, wrong = "sdp_helmdeploy_pod_monitor_pods)", "sdp_helmdeploy_pod_monitor_pod)"
	if !strings.Contains(string(b), right) {
		t.Fatalf("the dashboard no longer queries %s; pick another metric to misspell", right)
	}
	broken := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(b), right, wrong, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	problems := CheckDashboard(ctx, srv, broken)
	if len(problems) != 1 || problems[0].Panel != "Pods by status" || problems[0].Err != "no series" {
		t.Fatalf("misspelt metric: problems %v, want the one query of panel \"Pods by status\" with no series", problems)
	}

	// Over a time range, as a panel shows it: the shipped dashboard has
	// data over the last seconds, the misspelt one still misses its
	// panel, and over an hour before anything was scraped no query has any.
	now := time.Now()
	for _, p := range CheckDashboard(ctx, srv, DashboardPath(), CheckOptions{Start: now.Add(-10 * time.Second), End: now, Step: time.Second}) {
		t.Errorf("shipped dashboard over the last 10s: %v", p)
	}
	problems = CheckDashboard(ctx, srv, broken, CheckOptions{Start: now.Add(-10 * time.Second), End: now, Step: time.Second})
	if len(problems) != 1 || problems[0].Panel != "Pods by status" || problems[0].Err != "no series" {
		t.Errorf("misspelt metric over the last 10s: problems %v, want the one query of panel \"Pods by status\" with no series", problems)
	}
	queries, err := DashboardQueries(DashboardPath())
	if err != nil {
		t.Fatal(err)
	}
	if problems := CheckDashboard(ctx, srv, DashboardPath(), CheckOptions{Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)}); len(problems) != len(queries) {
		t.Errorf("an hour before anything was scraped: %d problems, want one per query (%d): %v", len(problems), len(queries), problems)
	}

	// A query that does not parse is reported with Prometheus's error.
	if err := os.WriteFile(broken, []byte(strings.Replace(string(b), right, "sdp_helmdeploy_pod_monitor_pods", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	problems = CheckDashboard(ctx, srv, broken)
	if len(problems) != 1 || !strings.Contains(problems[0].Err, "parse error") {
		t.Fatalf("unbalanced parenthesis: problems %v, want one parse error", problems)
	}
}

// The scaled copy of the rules for short runs is valid, keeps every alert
// and shortens what it says it shortens.
func TestScaledRules(t *testing.T) {
	path, err := ScaledRules(t.TempDir(), 60, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	runPromtool(t, filepath.Dir(path), "check", "rules", filepath.Base(path))
	read := func(p string) ruleFile {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		if err := yaml.UnmarshalStrict(b, &rf); err != nil {
			t.Fatal(err)
		}
		return rf
	}
	orig, scaled := read(RulesPath()), read(path)
	if len(scaled.Groups) != len(orig.Groups) {
		t.Fatalf("%d groups, want %d", len(scaled.Groups), len(orig.Groups))
	}
	want := map[string]struct{ for_, expr string }{
		"SdpHelmdeployReleaseStuckPending": {"15s", `sum by (namespace, job, status) (sdp_helmdeploy_release_manager_releases{status=~"pending-.*"}) > 0`},
		"SdpHelmdeployNoLeader":            {"5s", "sum by (namespace, job) (sdp_helmdeploy_leader) < 1"},
		"SdpHelmdeployDeploymentGivenUp":   {"", `sum by (namespace, job) (increase(sdp_helmdeploy_release_manager_deployment_errors_total{reason="gave-up"}[15s])) > 0`},
		"SdpHelmdeployConfigDBErrors":      {"5s", "sum by (namespace, job) (rate(sdp_helmdeploy_resource_monitor_config_db_errors_total[5s])) > 0"},
	}
	for gi, g := range scaled.Groups {
		if len(g.Rules) != len(orig.Groups[gi].Rules) {
			t.Fatalf("group %s: %d rules, want %d", g.Name, len(g.Rules), len(orig.Groups[gi].Rules))
		}
		for ri, r := range g.Rules {
			if r.Alert != orig.Groups[gi].Rules[ri].Alert {
				t.Errorf("rule %d: %s, want %s", ri, r.Alert, orig.Groups[gi].Rules[ri].Alert)
			}
			if w, ok := want[r.Alert]; ok {
				if r.For != w.for_ || strings.TrimSpace(r.Expr) != w.expr {
					t.Errorf("%s: for %q expr %q, want for %q expr %q", r.Alert, r.For, r.Expr, w.for_, w.expr)
				}
				delete(want, r.Alert)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("alerts not found: %v", want)
	}
	if _, err := ScaledRules(t.TempDir(), 0.5, time.Second); err == nil {
		t.Error("factor 0.5: no error")
	}

	// AlertFors reads the scaled durations back: every alert, none
	// without a for reads as zero.
	fors, err := AlertFors(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range orig.Groups {
		n += len(g.Rules)
	}
	if len(fors) != n {
		t.Errorf("AlertFors: %d alerts, want %d", len(fors), n)
	}
	for alert, want := range map[string]time.Duration{
		"SdpHelmdeployReleaseStuckPending": 15 * time.Second,
		"SdpHelmdeployNoLeader":            5 * time.Second,
		"SdpHelmdeployDeploymentGivenUp":   0,
	} {
		if got, ok := fors[alert]; !ok || got != want {
			t.Errorf("AlertFors: %s for %v (found %v), want %v", alert, got, ok, want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        for: soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := AlertFors(bad); err == nil || !strings.Contains(err.Error(), "alert A") {
		t.Errorf("AlertFors of a for that does not parse: error %v, want one naming alert A", err)
	}
}
