package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

func TestMain(m *testing.M) {
	// The audit log proves what a paused leader did after its term.
	opts := localcp.Options{AuditLog: true}.All()
	// SDP_E2E_DIR keeps the control plane's work directory too: its
	// components' logs and the audit log say what the cluster did in a run.
	if dir := os.Getenv("SDP_E2E_DIR"); dir != "" {
		opts.Dir = filepath.Join(dir, "controlplane")
	}
	os.Exit(cptest.Main(m, opts))
}

// replicasValues asks the umbrella chart for two replicas of each service.
var replicasValues = map[string]any{
	// Changed objects of releases are put back too (the default reports
	// them only), so that the run shows both corrections.
	"release-manager":  map[string]any{"replicas": 2, "drift": map[string]any{"correctChanged": true}},
	"pod-monitor":      map[string]any{"replicas": 2},
	"resource-monitor": map[string]any{"replicas": 2},
}

// startSystem builds the services, takes their settings from the umbrella
// chart (hand-written ones when it is not in the tree) and starts the
// whole system; everything it starts is stopped by PID at the end of t.
func startSystem(t *testing.T) (*System, *Script) {
	t.Helper()
	cp := cptest.Get(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// SDP_E2E_DIR keeps the work directory (service logs) for a look
	// after the run.
	dir := os.Getenv("SDP_E2E_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	bins, err := Build(root, filepath.Join(dir, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	settings, err := FromChart(filepath.Join(root, "charts", "sdp-helmdeploy"), replicasValues)
	if errors.Is(err, ErrNoChart) {
		t.Logf("NOTE: %v: running the services with hand-written settings", err)
		settings = HandWritten()
	} else if err != nil {
		t.Fatalf("settings from the umbrella chart: %v", err)
	}
	for _, name := range Services {
		t.Logf("%s settings (%s, %d replicas): args %q", name, settings[name].From, settings[name].Replicas, settings[name].Args)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sys, err := Start(ctx, Config{Root: root, Dir: dir, CP: cp, Settings: settings}, bins)
	if err != nil {
		t.Fatalf("start the system: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && !sys.logsDumped {
			dumpLogs(t, sys)
		}
		for _, err := range sys.Stop() {
			t.Errorf("stop: %v", err)
		}
	})
	return sys, NewScript(sys.Store, sys.Env.ConfigPrefix)
}

func dumpLogs(t *testing.T, sys *System) {
	sys.logsDumped = true
	for _, name := range Services {
		for _, r := range sys.Replicas[name] {
			for _, p := range r.LogPaths() {
				b, err := os.ReadFile(p)
				if err != nil {
					continue
				}
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if len(lines) > 40 {
					lines = lines[len(lines)-40:]
				}
				t.Logf("--- last lines of %s:\n%s", p, strings.Join(lines, "\n"))
			}
		}
	}
}

// TestE2E runs the whole system as deployed and drives it through the
// config DB as a processing script does: the happy path, then chaos.
//
// It runs under make e2e (SDP_E2E=1), not in every module's go test: it
// takes minutes and the whole machine.
func TestE2E(t *testing.T) {
	if os.Getenv("SDP_E2E") != "1" {
		t.Skip("SKIP!!! the end-to-end and chaos run is `make e2e` (SDP_E2E=1)")
	}
	t0 := time.Now()
	report := &Report{Date: t0}
	// Registered before startSystem's, so it runs after it: the replicas'
	// log tails a failure dumps are long, and a CI log shows its end.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- why TestE2E failed (the errors above, in short):\n%s", strings.Join(report.Failures(), "\n"))
		}
	})
	sys, script := startSystem(t)
	report.Settings = sys.Settings["release-manager"].From
	t.Run("takeover", func(t *testing.T) { testTakeover(t, sys, script, report) })
	t.Run("happy path", func(t *testing.T) { testHappyPath(t, sys, script, report) })
	t.Run("what runs", func(t *testing.T) { testWhatRuns(t, sys, script, report) })
	t.Run("chaos", func(t *testing.T) { testChaos(t, sys, script, report) })
	if t.Failed() {
		// In a subtest of its own, which passes: a failed run's summary
		// lists the failed tests' output, and the tails are too long for
		// it.
		t.Run("replica logs", func(t *testing.T) { dumpLogs(t, sys) })
	}
	report.Total = time.Since(t0)
	if path := os.Getenv("SDP_E2E_HISTORY"); path != "" && report.Chaos != nil {
		if err := AppendHistory(path, RecordOf(t0, os.Getenv("SDP_E2E_COMMIT"), report.Chaos)); err != nil {
			t.Errorf("record the run: %v", err)
		} else if report.History, err = ReadHistory(path); err != nil {
			t.Errorf("the runs recorded: %v", err)
		}
	}
	if path := os.Getenv("SDP_E2E_REPORT"); path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join("..", "..", path)
		}
		if err := os.WriteFile(path, report.Markdown(), 0o644); err != nil {
			t.Errorf("write the report: %v", err)
		}
		t.Logf("report written to %s", path)
	}
}

func testHappyPath(t *testing.T, sys *System, script *Script, report *Report) {
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const chart = "demo-receive"
	// One deployment per form of the entry: old and new field names.
	ids := map[Form]string{FormKeyKind: "happy-key", FormIDType: "happy-id", FormDplIDType: "happy-dpl", FormDeployIDKind: "happy-deploy"}
	values := func(form Form, replicas int) map[string]any {
		// A dotted key, as scripts write nested values.
		return map[string]any{"replicas": replicas, "receiver.port": 9100 + int(form)}
	}
	for form := range NumForms {
		if err := script.Put(ctx, ids[form], form, chart, values(form, 1)); err != nil {
			t.Fatal(err)
		}
	}
	step := time.Now()
	for form := range NumForms {
		if _, err := script.WaitState(ctx, ids[form], 90*time.Second, "deployed, revision 1, 1 pod RUNNING", Deployed(1, 1)); err != nil {
			t.Errorf("%s entry: %v", form, err)
		}
	}
	report.Happy = append(report.Happy, Timing{"4 entries written → state: deployed, pod RUNNING", time.Since(step)})
	requireConverged(ctx, t, sys, script, "after create")

	for form := range NumForms {
		if err := script.Put(ctx, ids[form], form, chart, values(form, 2)); err != nil {
			t.Fatal(err)
		}
	}
	step = time.Now()
	for form := range NumForms {
		if _, err := script.WaitState(ctx, ids[form], 90*time.Second, "upgraded to revision 2, 2 pods RUNNING", Deployed(2, 2)); err != nil {
			t.Errorf("%s entry: %v", form, err)
		}
	}
	report.Happy = append(report.Happy, Timing{"values changed → state: revision 2 deployed, 2 pods RUNNING", time.Since(step)})
	requireConverged(ctx, t, sys, script, "after change")

	for form := range NumForms {
		// Half the scripts delete the state entry with the deployment,
		// half leave it to the deployer.
		if err := script.Delete(ctx, ids[form], form%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	step = time.Now()
	for form := range NumForms {
		if _, err := script.WaitState(ctx, ids[form], 90*time.Second, "state entry gone", Gone); err != nil {
			t.Errorf("%s entry: %v", form, err)
		}
	}
	report.Happy = append(report.Happy, Timing{"entries deleted → state entries gone", time.Since(step)})
	requireConverged(ctx, t, sys, script, "after delete")
	o, err := Observe(ctx, sys.Store, sys.Kube, sys.Env.HelmNamespace)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if r, ok := o.Releases[ReleaseName(sys.Env.HelmPrefix, id)]; ok {
			t.Errorf("release of deleted /deploy/%s still there: %+v", id, r)
		}
	}

	// A bad entry (a chart the repository does not have) is an error in
	// its state entry, and the others go on (checked by the convergence
	// above); its removal takes the state entry with it.
	if err := script.Put(ctx, "happy-bad", FormKeyKind, "no-such-chart", map[string]any{"replicas": 1}); err != nil {
		t.Fatal(err)
	}
	st, err := script.WaitState(ctx, "happy-bad", 60*time.Second, "an error in the release part", func(st RawState, found bool) bool {
		return found && st.Release != nil && st.Release.Error != ""
	})
	if err != nil {
		t.Error(err)
	} else if !strings.Contains(st.Release.Error, "no-such-chart") {
		t.Errorf("the error %q does not name the chart", st.Release.Error)
	}
	if err := script.Delete(ctx, "happy-bad", false); err != nil {
		t.Fatal(err)
	}
	if _, err := script.WaitState(ctx, "happy-bad", 60*time.Second, "state entry gone", Gone); err != nil {
		t.Error(err)
	}
	requireConverged(ctx, t, sys, script, "after the bad entry")

	step = time.Now()
	t.Run("labelled NAD mirrored", func(t *testing.T) { testNAD(ctx, t, sys) })
	report.Happy = append(report.Happy, Timing{"labelled NAD created → /resource/ entries; deleted → gone", time.Since(step)})
	t.Run("dashboard queries", func(t *testing.T) { testDashboard(t, sys, report, "the happy path", begin) })
}

func requireConverged(ctx context.Context, t *testing.T, sys *System, script *Script, when string) {
	t.Helper()
	took, _, bad, err := sys.Converge(ctx, script, 60*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	if len(bad) > 0 {
		t.Fatalf("%s: not converged in %v, %d mismatches:\n%s", when, took.Round(time.Millisecond), len(bad), strings.Join(bad, "\n"))
	}
	t.Logf("%s: converged (checked in %v)", when, took.Round(time.Millisecond))
}

func testNAD(ctx context.Context, t *testing.T, sys *System) {
	ns := sys.Env.HelmNamespace
	if err := sys.CreateNAD(ctx, NAD(ns, "e2e-unlabelled", "", "10.60.9.0/24", 209)); err != nil {
		t.Fatal(err)
	}
	if err := sys.CreateNAD(ctx, NAD(ns, "e2e-net", "e2e-supernet", "10.60.1.0/24", 201)); err != nil {
		t.Fatal(err)
	}
	netID, superID := configdb.NetworkResourceID(ns, "e2e-net"), configdb.SupernetResourceID("e2e-supernet")
	var got configdb.ResourceList
	err := eventually.Poll(ctx, 60*time.Second, 100*time.Millisecond, func(context.Context) error {
		var err error
		if got, err = sys.Store.ListResources(ctx); err != nil {
			return err
		}
		if got.Resources[netID] == nil || got.Resources[superID] == nil {
			return fmt.Errorf("no %s or %s in %v", netID, superID, keys(got.Resources))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	net, ok := got.Resources[netID].(configdb.NetworkResource)
	if !ok || net.Subnet != "10.60.1.0/24" || net.VLAN == nil || *net.VLAN != 201 || net.CNIType != "macvlan" || net.Supernet != "e2e-supernet" {
		t.Errorf("%s = %+v, want macvlan 10.60.1.0/24 vlan 201 in e2e-supernet", netID, got.Resources[netID])
	}
	if sn, ok := got.Resources[superID].(configdb.SupernetResource); !ok || len(sn.Members) != 1 || sn.Members[0] != ns+"/e2e-net" {
		t.Errorf("%s = %+v, want the one member %s/e2e-net", superID, got.Resources[superID], ns)
	}
	if r, ok := got.Resources[configdb.NetworkResourceID(ns, "e2e-unlabelled")]; ok {
		t.Errorf("unlabelled NAD mirrored: %+v", r)
	}
	if err := sys.DeleteNAD(ctx, ns, "e2e-net"); err != nil {
		t.Fatal(err)
	}
	err = eventually.Poll(ctx, 60*time.Second, 100*time.Millisecond, func(context.Context) error {
		var err error
		if got, err = sys.Store.ListResources(ctx); err != nil {
			return err
		}
		if got.Resources[netID] != nil || got.Resources[superID] != nil {
			return fmt.Errorf("%s or %s still in %v", netID, superID, keys(got.Resources))
		}
		return nil
	})
	if err != nil {
		t.Errorf("after deleting the NAD: %v", err)
	}
	_ = sys.DeleteNAD(ctx, ns, "e2e-unlabelled")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func testChaos(t *testing.T, sys *System, script *Script, report *Report) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SDP_E2E_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SDP_E2E_SEED=%q: %v", v, err)
		}
	}
	t.Logf("chaos seed %d (repeat with SDP_E2E_SEED=%d)", seed, seed)
	ttls := map[string]time.Duration{}
	for _, s := range Services {
		ttl, err := sys.Settings[s].LeaderTTL()
		if err != nil {
			t.Fatal(err)
		}
		ttls[s] = ttl
	}
	opts := ChaosOptions{
		Seed: seed, Deployments: 300, Churn: 90 * time.Second, PDelete: 0.35,
		APIServerDown: 30 * time.Second, APIServerPaused: 15 * time.Second, EtcdDown: 10 * time.Second,
		MemberDown: 10 * time.Second, MemberCut: 10 * time.Second, LeaderTTL: ttls,
		Converge: 120 * time.Second, Logf: t.Logf,
		StopAPIServer:  sys.CP.StopAPIServer,
		PauseAPIServer: func() func() { return cptest.PauseAPIServer(t, sys.CP) },
	}
	// SDP_E2E_CHURN makes the churn longer (a Go duration): a long run says
	// whether anything is reported that should not be (drift, above all).
	if v := os.Getenv("SDP_E2E_CHURN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("SDP_E2E_CHURN=%q: want a positive Go duration", v)
		}
		opts.Churn = d
	}
	report.Opts = opts
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute+opts.Churn)
	defer cancel()
	res, err := RunChaos(ctx, sys, script, opts)
	report.Chaos = res
	if err != nil {
		t.Fatalf("chaos (seed %d): %v", seed, err)
	}
	for _, f := range res.Failovers {
		t.Logf("failover %s: %s → %s in %v", f.Service, f.From, f.To, f.Took.Round(time.Millisecond))
	}
	testPauses(t, res)
	if len(res.Mismatches) > 0 {
		t.Fatalf("seed %d: not converged %v after churn and faults; %d mismatches:\n%s", seed, opts.Converge, len(res.Mismatches), strings.Join(res.Mismatches, "\n"))
	}
	t.Logf("converged in %v after churn (%+v, %d left) and %d faults", res.ConvergeTook.Round(time.Millisecond), res.Counts, res.Alive, len(res.Faults))
	noDriftReported(ctx, t, script)
	for _, st := range res.ConvergeSteps {
		t.Logf("converging, +%v after the faults: left %v (e.g. %s)", st.At.Round(time.Millisecond), st.Left, st.Example)
	}
	t.Logf("the deployer's part converged %v after the last fault ended (the whole system %v)", res.DeployerConvergeTook.Round(time.Millisecond), res.ConvergeTook.Round(time.Millisecond))
	if res.DeployerConvergeTook > ConvergeBound {
		t.Logf("NOTE: seed %d: the deployer's part converged %v after the last fault ended, over the target of %v", seed, res.DeployerConvergeTook.Round(time.Millisecond), ConvergeBound)
	}
	if res.DeployerConvergeTook > ConvergeLimit {
		t.Errorf("seed %d: the deployer's part converged %v after the last fault ended, over the limit of %v", seed, res.DeployerConvergeTook.Round(time.Millisecond), ConvergeLimit)
	}
	t.Run("alerts", func(t *testing.T) { testAlerts(t, sys, res, report) })
	t.Run("dashboard queries", func(t *testing.T) { testDashboard(t, sys, report, "the end of the chaos run", time.Time{}) })
	if res.GaveUp > 0 {
		t.Errorf("the release-manager gave up on valid deployments %d times during the chaos (see its logs: %q)", res.GaveUp, gaveUpMsg)
	}
	t.Logf("watch resyncs: compacted %v, watch lost %v; releases unlocked %d, helm actions failed %d", res.CompactedResyncs, res.LostResyncs, res.Unlocks, res.FailedActions)
}

// testPauses checks the proof of each paused leader: one per service, the
// other replica took over, and after its term the frozen one made no
// mutating request (audit log) and no config DB write (etcd revision).
func testPauses(t *testing.T, res *ChaosResult) {
	t.Helper()
	paused := map[string]bool{}
	for _, p := range res.Pauses {
		paused[p.Service] = true
		rev, has := p.LastWrite()
		t.Logf("paused %s %s at +%v for %v (%d creates and changes meanwhile): %s led after %v; term ended at revision %d; audit: %d mutating requests in its term, %d after; last write revision %d (read: %v); fenced %s",
			p.Service, p.Replica, p.Paused.Round(time.Millisecond), p.Frozen.Round(time.Millisecond), p.ChurnWhilePaused, p.TakenOverBy, p.TakeoverAfter.Round(time.Millisecond),
			p.Term.EndRev, p.AuditInTerm, p.AuditAfter, rev, has, FencedString(p.Fenced()))
		for _, prob := range p.Problems() {
			t.Errorf("paused leader: %s", prob)
		}
	}
	for _, s := range Services {
		if !paused[s] {
			t.Errorf("no leader of %s was paused", s)
		}
	}
	if res.TermGaps > 0 {
		t.Logf("NOTE: %d election key changes were found by listing again, not seen in the watch", res.TermGaps)
	}
}
