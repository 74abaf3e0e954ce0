//go:build unix

package chartcheck

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

func repoRoot() string { return filepath.Join(ChartsDir(), "..") }

const dashboardPath = "deploy/grafana/sdp-helmdeploy.json"

type dashboard struct {
	Title  string           `json:"title"`
	UID    string           `json:"uid"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	ID         int                      `json:"id"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *struct{ UID string }    `json:"datasource"`
	Targets    []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // of a collapsed row
}

// readDashboard returns the dashboard's PromQL expressions by panel title.
func readDashboard(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), dashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard title %q uid %q", d.Title, d.UID)
	}
	exprs := map[string][]string{}
	ids := map[int]string{}
	cells := map[[2]int]string{} // grid cells (x, y) taken, by panel title
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if other, dup := ids[p.ID]; dup {
				t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("panel %q: gridPos %+v off the 24-column grid", p.Title, g)
			}
		grid:
			for x := g.X; x < g.X+g.W; x++ {
				for y := g.Y; y < g.Y+g.H; y++ {
					if other, taken := cells[[2]int{x, y}]; taken {
						t.Errorf("panels %q and %q overlap at (%d, %d)", other, p.Title, x, y)
						break grid
					}
					cells[[2]int{x, y}] = p.Title
				}
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			if _, dup := exprs[p.Title]; dup {
				t.Errorf("two panels titled %q", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q query %s is empty", p.Title, tg.RefID)
				}
				exprs[p.Title] = append(exprs[p.Title], tg.Expr)
			}
		}
	}
	walk(d.Panels)
	return exprs
}

var metricName = regexp.MustCompile(`\bsdp_helmdeploy_[a-z0-9_]+\b`)

// metricsUsed returns the deployer's metric names the expressions query.
func metricsUsed(exprs map[string][]string) []string {
	seen := map[string]bool{}
	for _, es := range exprs {
		for _, e := range es {
			for _, m := range metricName.FindAllString(e, -1) {
				seen[m] = true
			}
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// The dashboard shows what issue 7 asks for: releases by status, Helm
// action rates and durations, pods by status, state-write latency.
func TestDashboardShape(t *testing.T) {
	used := metricsUsed(readDashboard(t))
	for _, want := range []string{
		"sdp_helmdeploy_release_manager_releases",
		"sdp_helmdeploy_release_manager_helm_actions_total",
		"sdp_helmdeploy_release_manager_helm_action_duration_seconds_bucket",
		"sdp_helmdeploy_pod_monitor_pods",
		"sdp_helmdeploy_release_manager_state_write_duration_seconds_bucket",
		"sdp_helmdeploy_pod_monitor_state_write_duration_seconds_bucket",
	} {
		if !slices.Contains(used, want) {
			t.Errorf("the dashboard does not query %s", want)
		}
	}
}

// exposes reports whether the metric a query names is there with samples:
// a histogram's _bucket, _sum and _count series count as the histogram's.
func exposes(page metrics.Families, name string) bool {
	if mf := page[name]; mf != nil {
		return len(mf.GetMetric()) > 0 && mf.GetType() != dto.MetricType_HISTOGRAM
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if typ, ok := page.Type(base); ok && typ == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}

// Every metric the dashboard queries is served by the real service
// binaries: the three are built, run against an embedded etcd and the
// local control plane, given a deployment to install, and scraped. What
// each serves passes promlint.
func TestDashboardMetricsServed(t *testing.T) {
	used := metricsUsed(readDashboard(t))
	if len(used) == 0 {
		t.Fatal("no metric found in the dashboard")
	}
	cp := cptest.Get(t)
	cs := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	const ns = "chartcheck-dashboard"
	createNamespaces(t, cs, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The NAD CRD, for the resource-monitor's informer.
	if err := manifests.Apply(ctx, cp.RESTConfig(), filepath.Join(repoRoot(), "deploy", "crds"), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("apply deploy/crds: %v", err)
	}
	etcd := etcdtest.Start(t)
	prefix := fmt.Sprintf("/dashboard%d", time.Now().UnixNano())
	env := []string{
		"SDP_CONFIG_HOST=127.0.0.1",
		fmt.Sprintf("SDP_CONFIG_PORT=%d", etcd.Port),
		"SDP_CONFIG_PREFIX=" + prefix,
		"SDP_HELM_NAMESPACE=" + ns,
		"SDP_HELM_PREFIX=dash",
	}
	procs := map[string]*servicetest.Proc{}
	for _, svc := range services {
		bin := serviceBinary(t, svc)
		args := []string{"--leader-elect=false", "--kubeconfig=" + cp.KubeconfigPath}
		if svc == "release-manager" {
			args = append(args, "--cache-dir="+t.TempDir())
		}
		procs[svc] = servicetest.Start(t, bin, env, args...)
	}
	for _, p := range procs {
		p.WaitFor(t, "/readyz", 200, "ok", 90*time.Second)
	}

	// One deployment, so that the release, Helm action and state write
	// series exist: a local chart with a pod (Pending: no kubelet here).
	store, err := configdb.NewStore(etcd.Client(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutDeployment(ctx, configdb.Deployment{ID: "dash", Kind: configdb.KindHelm, Chart: testrepo.WritePodChart(t, "dash-pod")}); err != nil {
		t.Fatal(err)
	}
	procs["release-manager"].WaitMetric(t, 90*time.Second, 1, "sdp_helmdeploy_release_manager_releases", "status", "deployed")
	procs["pod-monitor"].WaitMetric(t, 60*time.Second, 1, "sdp_helmdeploy_pod_monitor_pods", "status", "PENDING")
	waitObserved(t, procs["pod-monitor"], "sdp_helmdeploy_pod_monitor_state_write_duration_seconds", 30*time.Second)
	waitObserved(t, procs["release-manager"], "sdp_helmdeploy_release_manager_state_write_duration_seconds", 30*time.Second)

	pages := map[string]metrics.Families{}
	for svc, p := range procs {
		code, body, err := p.Get("/metrics")
		if err != nil || code != 200 {
			t.Fatalf("%s /metrics: %d %v", svc, code, err)
		}
		if pages[svc], err = metrics.ParseText(body); err != nil {
			t.Fatalf("%s /metrics: %v", svc, err)
		}
		// The binary's whole registry as served (runtime, service and
		// work-queue metrics, with live series) passes promlint.
		problems, err := promlint.New(strings.NewReader(body)).Lint()
		if err != nil {
			t.Errorf("%s /metrics: %v", svc, err)
		}
		for _, p := range problems {
			t.Errorf("%s promlint: %s: %s", svc, p.Metric, p.Text)
		}
	}
	for _, m := range used {
		var by []string
		for svc, page := range pages {
			if exposes(page, m) {
				by = append(by, svc)
			}
		}
		if len(by) == 0 {
			t.Errorf("the dashboard queries %s, which no service exposes", m)
			continue
		}
		t.Logf("%s: %v", m, by)
	}

	for svc, p := range procs {
		if code := p.Stop(t, 30*time.Second); code != 0 {
			t.Errorf("%s exit code %d after SIGTERM", svc, code)
		}
	}
	// The pod the release made is left to the namespace; delete it so
	// that a rerun starts clean.
	_ = cs.CoreV1().Pods(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
}

// waitObserved waits until the unlabelled histogram name has an observation.
func waitObserved(t *testing.T, p *servicetest.Proc, name string, timeout time.Duration) {
	t.Helper()
	eventually.Eventually(t, timeout, func() error {
		m, err := p.Metrics()
		if err != nil {
			return err
		}
		if n, _ := m.HistogramCount(name); n == 0 {
			return fmt.Errorf("%s_count not above 0", name)
		}
		return nil
	})
}
