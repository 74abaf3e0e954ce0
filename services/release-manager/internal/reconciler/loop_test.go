package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/charts"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
)

// Unit tests of the loop: one reconcile of deployment "x" at a time,
// called directly, with a real etcd for the config DB and a fake Helm for
// the cluster, so each case says exactly which Helm actions ran and what
// the state entry says after each reconcile.

const loopID, loopRelease = "x", "sdp-x"

// flakyCharts fails its first fails loads with err, then loads from
// testCharts.
type flakyCharts struct {
	mu    sync.Mutex
	fails int
	err   error
}

func (c *flakyCharts) Load(ctx context.Context, ref, version string) (*chart.Chart, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fails > 0 {
		c.fails--
		return nil, c.err
	}
	return testCharts.Load(ctx, ref, version)
}

func (c *flakyCharts) Fetch(ctx context.Context, ref, version string) (charts.Loaded, error) {
	ch, err := c.Load(ctx, ref, version)
	return charts.Loaded{Chart: ch}, err
}

// warningCharts loads from testCharts with a warning, as the chart source
// does for an archive whose digest differs from its index.
type warningCharts string

func (w warningCharts) Fetch(ctx context.Context, ref, version string) (charts.Loaded, error) {
	ch, err := testCharts.Load(ctx, ref, version)
	return charts.Loaded{Chart: ch, Warning: string(w)}, err
}

func digestOf(t *testing.T, body string) string {
	t.Helper()
	d, err := configdb.DecodeDeployment(loopID, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return plan.Digest(d)
}

func stored(version int, status release.Status, labels map[string]string) *release.Release {
	return &release.Release{Name: loopRelease, Namespace: ns, Version: version, Chart: testCharts["cm"],
		Config: map[string]any{"replicas": float64(2)}, Labels: labels, Info: &release.Info{Status: status}}
}

// result names what a reconcile returned, as the work queue treats it.
func result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, controller.ErrPermanent):
		return "permanent"
	}
	return "retry"
}

type stateWant struct {
	found    bool
	status   string
	revision int
	errHas   string // "" when the state must carry no error
	warning  string // the state's warning, exactly
}

func TestLoop(t *testing.T) {
	srv := etcdtest.Start(t)
	body := entryJSON(loopID, "cm", `{"replicas": 2}`)
	digest := digestOf(t, body)
	owned := plan.Labels(digest)
	stale := plan.Labels("0000")
	boom := errors.New("boom: values don't meet the chart's schema")
	away := fmt.Errorf("%w: connection refused", helmexec.ErrUnreachable)
	tests := []struct {
		name     string
		releases []*release.Release
		entry    string // "" for no entry
		hidden   bool   // the release index has not seen the release
		charts   ChartLoader
		fail     map[string][]error
		runs     []string // the result of each reconcile, in order
		calls    []string
		revs     int
		state    stateWant
		// digest, when set, is the digest label the release must end with.
		digest string
		// unowned is the unowned_releases gauge after the reconciles.
		unowned          float64
		uninstallUnowned bool
		// lasts, when set, is how many live reads of the release the
		// reconciles made.
		lasts int
	}{
		{name: "install", entry: body, runs: []string{"ok"}, calls: []string{"install sdp-x"}, revs: 1,
			state: stateWant{found: true, status: "deployed", revision: 1}},
		{name: "in sync: nothing", releases: []*release.Release{stored(1, release.StatusDeployed, owned)}, entry: body,
			runs: []string{"ok"}, revs: 1, state: stateWant{found: true, status: "deployed", revision: 1}},
		{name: "entry changed: upgrade", releases: []*release.Release{stored(1, release.StatusDeployed, stale)}, entry: body,
			runs: []string{"ok"}, calls: []string{"upgrade sdp-x"}, revs: 2, state: stateWant{found: true, status: "deployed", revision: 2}},
		{name: "failed release: upgrade", releases: []*release.Release{stored(1, release.StatusFailed, owned)}, entry: body,
			runs: []string{"ok"}, calls: []string{"upgrade sdp-x"}, revs: 2, state: stateWant{found: true, status: "deployed", revision: 2}},
		{name: "entry gone: uninstall, reading the release before it only", releases: []*release.Release{stored(1, release.StatusDeployed, owned)},
			runs: []string{"ok"}, calls: []string{"uninstall sdp-x"}, lasts: 1},
		{name: "interrupted uninstall finished", releases: []*release.Release{stored(1, release.StatusUninstalling, owned)},
			runs: []string{"ok"}, calls: []string{"uninstall sdp-x"}},
		{name: "pending install: unlock, then upgrade", releases: []*release.Release{stored(1, release.StatusPendingInstall, owned)}, entry: body,
			runs: []string{"ok"}, calls: []string{"mark-failed sdp-x", "upgrade sdp-x"}, revs: 2, state: stateWant{found: true, status: "deployed", revision: 2}},
		{name: "pending upgrade: unlock, then upgrade", releases: []*release.Release{stored(1, release.StatusDeployed, owned), stored(2, release.StatusPendingUpgrade, owned)}, entry: body,
			runs: []string{"ok"}, calls: []string{"mark-failed sdp-x", "upgrade sdp-x"}, revs: 3, state: stateWant{found: true, status: "deployed", revision: 3}},
		{name: "unlock fails: retried", releases: []*release.Release{stored(1, release.StatusPendingInstall, owned)}, entry: body,
			fail: map[string][]error{"mark-failed": {away}},
			runs: []string{"retry", "ok"}, calls: []string{"mark-failed sdp-x", "mark-failed sdp-x", "upgrade sdp-x"}, revs: 2,
			state: stateWant{found: true, status: "deployed", revision: 2}},
		{name: "index lags: install finds the name in use and reads the release", releases: []*release.Release{stored(1, release.StatusDeployed, owned)},
			entry: body, hidden: true, runs: []string{"ok"}, calls: []string{"install sdp-x"}, revs: 1,
			state: stateWant{found: true, status: "deployed", revision: 1}},
		{name: "give up after the attempt budget", entry: body, fail: map[string][]error{"install": {boom, boom, boom}},
			runs: []string{"retry", "permanent", "permanent"}, calls: []string{"install sdp-x", "install sdp-x"},
			state: stateWant{found: true, status: "failed", errHas: "boom"}},
		{name: "kubernetes API away: retried outside the budget", entry: body, fail: map[string][]error{"install": {away, away, away}},
			runs: []string{"retry", "retry", "retry", "ok"}, calls: []string{"install sdp-x", "install sdp-x", "install sdp-x", "install sdp-x"}, revs: 1,
			state: stateWant{found: true, status: "deployed", revision: 1}},
		{name: "chart repository away: retried outside the budget", entry: body,
			charts: &flakyCharts{fails: 3, err: fmt.Errorf("index: %w", charts.ErrUnreachable)},
			runs:   []string{"retry", "retry", "retry", "ok"}, calls: []string{"install sdp-x"}, revs: 1,
			state: stateWant{found: true, status: "deployed", revision: 1}},
		{name: "archive digest differs from the index: installed, noted in the state", entry: body,
			charts: warningCharts("archive digest differs from the index"), runs: []string{"ok"}, calls: []string{"install sdp-x"}, revs: 1,
			state: stateWant{found: true, status: "deployed", revision: 1, warning: "archive digest differs from the index"}},
		{name: "unknown chart: gives up", entry: entryJSON(loopID, "nope", "{}"), runs: []string{"retry", "permanent", "permanent"},
			state: stateWant{found: true, status: "failed", errHas: `no chart "nope"`}},
		{name: "manifest outside the namespace: permanent at once", entry: body,
			fail: map[string][]error{"install": {fmt.Errorf("post-render: %w", confine.ErrOutside)}},
			runs: []string{"permanent"}, calls: []string{"install sdp-x"}, state: stateWant{found: true, status: "failed", errHas: "outside"}},
		{name: "failed upgrade keeps the release's status", releases: []*release.Release{stored(1, release.StatusDeployed, stale)}, entry: body,
			fail: map[string][]error{"upgrade": {boom}}, runs: []string{"retry"}, calls: []string{"upgrade sdp-x"}, revs: 1,
			state: stateWant{found: true, status: "deployed", revision: 1, errHas: "boom"}},
		{name: "bad entry: reported, nothing run", entry: `{"key": "x", "kind": "helm", "args": {`, runs: []string{"permanent"},
			state: stateWant{found: true, status: "failed", errHas: "not valid JSON"}},
		{name: "bad entry: release left as it is", releases: []*release.Release{stored(1, release.StatusDeployed, owned)},
			entry: `{"key": "x", "kind": "helm", "args": {}}`, runs: []string{"permanent"}, revs: 1,
			state: stateWant{found: true, status: "deployed", revision: 1, errHas: `"args.chart" is missing`}},
		// Takeover of releases the Python deployer installed: no labels,
		// values as Helm read them from YAML (numbers as float64).
		{name: "unowned release with the entry's content: adopted, no new revision", releases: []*release.Release{stored(1, release.StatusDeployed, nil)},
			entry: body, runs: []string{"ok"}, calls: []string{"relabel sdp-x"}, revs: 1, digest: digest,
			state: stateWant{found: true, status: "deployed", revision: 1}},
		{name: "unowned release with other values: adopted, upgraded once", releases: []*release.Release{stored(1, release.StatusDeployed, nil)},
			entry: entryJSON(loopID, "cm", `{"replicas": 3}`), runs: []string{"ok", "ok"}, calls: []string{"relabel sdp-x", "upgrade sdp-x"}, revs: 2,
			digest: digestOf(t, entryJSON(loopID, "cm", `{"replicas": 3}`)), state: stateWant{found: true, status: "deployed", revision: 2}},
		{name: "unowned release, entry names another version: adopted, upgraded", releases: []*release.Release{stored(1, release.StatusDeployed, nil)},
			entry: `{"key": "x", "kind": "helm", "args": {"chart": "cm", "version": "9.9.9", "values": {"replicas": 2}}}`,
			runs:  []string{"ok"}, calls: []string{"relabel sdp-x", "upgrade sdp-x"}, revs: 2, state: stateWant{found: true, status: "deployed", revision: 2}},
		{name: "unowned pending release: adopted, unlocked, upgraded", releases: []*release.Release{stored(1, release.StatusPendingInstall, nil)},
			entry: body, runs: []string{"ok"}, calls: []string{"relabel sdp-x", "mark-failed sdp-x", "upgrade sdp-x"}, revs: 2, digest: digest,
			state: stateWant{found: true, status: "deployed", revision: 2}},
		{name: "unowned release, chart repository away: adoption retried", releases: []*release.Release{stored(1, release.StatusDeployed, nil)},
			entry: body, charts: &flakyCharts{fails: 1, err: fmt.Errorf("index: %w", charts.ErrUnreachable)},
			runs: []string{"retry", "ok"}, calls: []string{"relabel sdp-x"}, revs: 1, digest: digest,
			state: stateWant{found: true, status: "deployed", revision: 1}},
		{name: "unowned release, no entry: kept and reported", releases: []*release.Release{stored(1, release.StatusDeployed, nil)},
			runs: []string{"ok"}, revs: 1, unowned: 1},
		{name: "unowned release, no entry, --uninstall-unowned: uninstalled", releases: []*release.Release{stored(1, release.StatusDeployed, nil)},
			uninstallUnowned: true, runs: []string{"ok"}, calls: []string{"uninstall sdp-x"}},
		{name: "owned release, no entry: not reported as unowned", releases: []*release.Release{stored(1, release.StatusDeployed, owned)},
			runs: []string{"ok"}, calls: []string{"uninstall sdp-x"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := configdb.NewStore(srv.Client(t), fmt.Sprintf("/loop%d", i))
			if err != nil {
				t.Fatal(err)
			}
			fh := newFakeHelm(tt.releases...)
			fh.fail = tt.fail
			if fh.fail == nil {
				fh.fail = map[string][]error{}
			}
			fh.hide[loopRelease] = tt.hidden
			loader := tt.charts
			if loader == nil {
				loader = testCharts
			}
			reg := prometheus.NewRegistry()
			r := New(Config{
				Store: store, Helm: fh, Charts: loader, Index: fh,
				Confine: confine.Confiner{Namespace: ns, Mapper: testMapper()},
				Prefix:  "sdp", Timeout: time.Minute, Options: Options{Workers: 1, MaxAttempts: 2, UninstallUnowned: tt.uninstallUnowned},
				Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}, NewMetrics(reg, fh.CountByStatus), reg)
			ctx := context.Background()
			if tt.entry != "" {
				if _, err := store.Client().Put(ctx, store.Layout().DeploymentKey(loopID), tt.entry); err != nil {
					t.Fatal(err)
				}
				dep, derr := configdb.DecodeDeployment(loopID, []byte(tt.entry))
				r.onEvent(configdb.DeploymentEvent{ID: loopID, Deployment: dep, Err: derr})
			}
			r.listed.Open() // as after the first list of entries
			r.ReleaseChanged(loopRelease)
			var got []string
			for range tt.runs {
				got = append(got, result(r.reconcile(ctx, loopID)))
			}
			if !slices.Equal(got, tt.runs) {
				t.Errorf("reconciles returned %v, want %v", got, tt.runs)
			}
			if calls := fh.takeCalls(); !slices.Equal(calls, tt.calls) {
				t.Errorf("helm calls %v, want %v", calls, tt.calls)
			}
			if n := fh.lastsOf(loopRelease); tt.lasts != 0 && n != tt.lasts {
				t.Errorf("%d live reads of the release, want %d", n, tt.lasts)
			}
			if n := len(fh.hist[loopRelease]); n != tt.revs {
				t.Errorf("%d revisions, want %d", n, tt.revs)
			}
			if last := fh.latest(loopRelease); last != nil && tt.entry != "" && tt.state.errHas == "" &&
				last.Labels[plan.LabelManagedBy] != plan.ManagedByValue {
				t.Errorf("release labels %v: not marked ours", last.Labels)
			}
			if last := fh.latest(loopRelease); tt.digest != "" && (last == nil || last.Labels[plan.LabelDigest] != tt.digest) {
				t.Errorf("release %v: want digest label %s", last, tt.digest)
			}
			r.ReleaseChanged(loopRelease)
			if got := testutil.ToFloat64(r.metrics.unownedReleases); got != tt.unowned {
				t.Errorf("unowned_releases = %v, want %v", got, tt.unowned)
			}
			st, found, err := store.GetState(ctx, loopID)
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.state.found {
				t.Fatalf("state entry found %v, want %v (%+v)", found, tt.state.found, st.Release)
			}
			if !found {
				return
			}
			rs := st.Release
			if rs == nil {
				t.Fatal("state entry has no release part")
			}
			if rs.Status != tt.state.status || rs.Revision != tt.state.revision || rs.Name != loopRelease {
				t.Errorf("state release %+v, want status %s revision %d", rs, tt.state.status, tt.state.revision)
			}
			if tt.state.errHas == "" && rs.Error != "" || !strings.Contains(rs.Error, tt.state.errHas) {
				t.Errorf("state error %q, want one containing %q", rs.Error, tt.state.errHas)
			}
			if rs.Warning != tt.state.warning {
				t.Errorf("state warning %q, want %q", rs.Warning, tt.state.warning)
			}
		})
	}
}
