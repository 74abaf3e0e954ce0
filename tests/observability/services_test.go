//go:build unix

package observability

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/prometheus"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// The control plane (etcd and kube-apiserver only) is started by the first
// test that needs it.
func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

var services = []string{"release-manager", "pod-monitor", "resource-monitor"}

// The real services, scraped by a real Prometheus loaded with the shipped
// rules (durations scaled down), after one deployment is installed: every
// metric the alert rules and the dashboard name is there (promtool's unit
// tests cannot see a misspelt metric: they feed the rules the names the
// rules use), every dashboard panel query returns series, and no alert
// fires on a healthy deployer. A misspelt metric in a copy of the
// dashboard is reported. Then the config DB is stopped and the API server
// frozen, in turn: the replicas' probes say so, the alert for each fires,
// and all alerts are quiet again once it is back.
func TestAgainstServices(t *testing.T) {
	cp := cptest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	ns := fmt.Sprintf("observability-%d", time.Now().UnixNano()%100000)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	// The NAD CRD, for the resource-monitor's informer.
	if err := manifests.Apply(ctx, cp.RESTConfig(), filepath.Join(RepoRoot(), "deploy", "crds"), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("apply deploy/crds: %v", err)
	}
	etcd := etcdtest.Start(t)
	prefix := fmt.Sprintf("/observability%d", time.Now().UnixNano())
	env := []string{
		"SDP_CONFIG_HOST=127.0.0.1",
		fmt.Sprintf("SDP_CONFIG_PORT=%d", etcd.Port),
		"SDP_CONFIG_PREFIX=" + prefix,
		"SDP_HELM_NAMESPACE=" + ns,
		"SDP_HELM_PREFIX=obs",
	}
	binDir := t.TempDir()
	targets := map[string][]string{}
	for _, svc := range services {
		bin := filepath.Join(binDir, svc)
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = filepath.Join(RepoRoot(), "services", svc, "cmd", svc)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", svc, err, out)
		}
		args := []string{"--leader-elect=false", "--kubeconfig=" + cp.KubeconfigPath}
		if svc == "release-manager" {
			args = append(args, "--cache-dir="+t.TempDir())
		}
		p := servicetest.Start(t, bin, env, args...)
		p.WaitFor(t, "/readyz", 200, "ok", 90*time.Second)
		targets[svc] = []string{p.Addr()}
	}

	// The rules with their durations cut 60-fold (for: 1m is 5s), so
	// that the faults below raise their alerts within the test.
	rules, err := ScaledRules(t.TempDir(), 60, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv := startPrometheus(t, ctx, prometheus.Options{Targets: targets, RuleFiles: []string{rules}})
	if err := srv.WaitScraped(ctx); err != nil {
		t.Fatal(err)
	}

	// One deployment, so that the release, Helm action and state write
	// series move: a local chart with a pod (Pending: no kubelet here).
	store, err := configdb.NewStore(etcd.Client(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutDeployment(ctx, configdb.Deployment{ID: "obs", Kind: configdb.KindHelm, Chart: testrepo.WritePodChart(t, "obs-pod")}); err != nil {
		t.Fatal(err)
	}
	waitQuery(t, ctx, srv, `sdp_helmdeploy_release_manager_releases{status="deployed"} == 1`)
	waitQuery(t, ctx, srv, `sdp_helmdeploy_pod_monitor_pods{status="PENDING"} == 1`)
	waitQuery(t, ctx, srv, `sdp_helmdeploy_pod_monitor_state_write_duration_seconds_count > 0`)
	// Two more scrapes, so that rates over the change exist.
	time.Sleep(3 * time.Second)

	v, err := srv.Query(ctx, `group by (__name__) ({__name__=~"sdp_helmdeploy_.+"})`)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, s := range v.(model.Vector) {
		have[string(s.Metric[model.MetricNameLabel])] = true
	}
	for _, used := range []struct {
		what  string
		names []string
	}{{"the alert rules", namesIn(t, RulesPath())}, {"the dashboard", namesIn(t, DashboardPath())}} {
		if len(used.names) == 0 {
			t.Fatalf("no sdp_helmdeploy metric found in %s", used.what)
		}
		for _, n := range used.names {
			if !have[n] {
				t.Errorf("%s query %s, which the services do not serve", used.what, n)
			}
		}
	}

	for _, p := range CheckDashboard(ctx, srv, DashboardPath()) {
		t.Errorf("shipped dashboard: %v", p)
	}
	b, err := os.ReadFile(DashboardPath())
	if err != nil {
		t.Fatal(err)
	}
	const right, wrong = "sdp_helmdeploy_release_manager_releases)", "sdp_helmdeploy_release_manager_release)"
	broken := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(b), right, wrong, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if problems := CheckDashboard(ctx, srv, broken); len(problems) != 1 || problems[0].Panel != "Releases by status" {
		t.Errorf("misspelt metric: problems %v, want the query of panel \"Releases by status\"", problems)
	}

	// A healthy deployer: no alert fires, though the scaled rules' for
	// durations have passed since the deployment.
	waitQuery(t, ctx, srv, `count(sdp_helmdeploy_config_db_up == 1) == 3`)
	waitQuery(t, ctx, srv, `count(sdp_helmdeploy_kube_api_up == 1) == 3`)
	time.Sleep(6 * time.Second)
	if firing, err := srv.Firing(ctx); err != nil || len(firing) > 0 {
		t.Errorf("alerts firing on a healthy deployer: %v (%v)", firing, err)
	}

	// The config DB away: every replica says so and the alert fires; back,
	// and all is quiet again.
	etcd.Stop()
	waitQuery(t, ctx, srv, `count(sdp_helmdeploy_config_db_up == 0) == 3`)
	waitFiring(t, ctx, srv, "SdpHelmdeployConfigDBUnreachable")
	etcd.Restart()
	waitQuery(t, ctx, srv, `count(sdp_helmdeploy_config_db_up == 1) == 3`)
	waitQuiet(t, ctx, srv)

	// Likewise the API server, frozen.
	resume := cptest.PauseAPIServer(t, cp)
	waitQuery(t, ctx, srv, `count(sdp_helmdeploy_kube_api_up == 0) == 3`)
	waitFiring(t, ctx, srv, "SdpHelmdeployKubeAPIUnreachable")
	resume()
	waitQuery(t, ctx, srv, `count(sdp_helmdeploy_kube_api_up == 1) == 3`)
	waitQuiet(t, ctx, srv)
}

// waitFiring waits until the alert fires.
func waitFiring(t *testing.T, ctx context.Context, srv *prometheus.Server, alert string) {
	t.Helper()
	for {
		firing, err := srv.Firing(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(firing, alert) {
			t.Logf("firing: %v", firing)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not firing before %v (firing: %v)", alert, ctx.Err(), firing)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitQuiet waits until no alert fires.
func waitQuiet(t *testing.T, ctx context.Context, srv *prometheus.Server) {
	t.Helper()
	for {
		firing, err := srv.Firing(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(firing) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("alerts still firing at %v: %v", ctx.Err(), firing)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// namesIn returns the sdp_helmdeploy metric names a file mentions.
func namesIn(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range metricName.FindAllString(string(b), -1) {
		// A regular expression over names (state writes of either writer)
		// is not a name.
		if strings.HasSuffix(n, "_") {
			continue
		}
		seen[n] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// waitQuery waits until the query returns a series.
func waitQuery(t *testing.T, ctx context.Context, srv *prometheus.Server, q string) {
	t.Helper()
	for {
		v, err := srv.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if vec, ok := v.(model.Vector); ok && len(vec) > 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: no series before %v", q, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
