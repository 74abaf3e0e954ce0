package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
)

// fakeTerm is a term whose Check answers checkErr and whose Valid is
// valid; it records what it was told.
type fakeTerm struct {
	checkErr error
	valid    atomic.Bool
	checks   atomic.Int32

	mu     sync.Mutex
	over   []error
	fenced []string
}

func newFakeTerm(checkErr error) *fakeTerm {
	ft := &fakeTerm{checkErr: checkErr}
	ft.valid.Store(true)
	return ft
}

func (f *fakeTerm) Check(context.Context) error { f.checks.Add(1); return f.checkErr }
func (f *fakeTerm) Valid() bool                 { return f.valid.Load() }

func (f *fakeTerm) Over(err error) bool {
	if !errors.Is(err, leader.ErrNotLeader) && !errors.Is(err, configdb.ErrFenced) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.over = append(f.over, err)
	f.valid.Store(false)
	return true
}

func (f *fakeTerm) Fenced(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fenced = append(f.fenced, what)
}

// pausingHelm is a Helm whose process is paused past the end of its term
// during each install or upgrade: the term is no longer valid when the
// action returns, with what err says (a refusal, or any failure).
type pausingHelm struct {
	*fakeHelm
	term *fakeTerm
	err  error
}

func (p pausingHelm) Install(ctx context.Context, s helmexec.Spec) (*release.Release, error) {
	p.term.valid.Store(false)
	p.fakeHelm.record("install", s.Name)
	return nil, p.err
}

func (p pausingHelm) Upgrade(ctx context.Context, s helmexec.Spec) (*release.Release, error) {
	p.term.valid.Store(false)
	p.fakeHelm.record("upgrade", s.Name)
	return nil, p.err
}

// keyFence is a fence on a key held by a lease, as a term's election key.
type keyFence struct {
	key string
	rev int64
}

func (f keyFence) Cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev)
}

// A reconcile in a term that is over takes no Helm action (or is cut short
// in one), does not mark the deployment failed or spend its attempts, and
// is dropped rather than retried: the other replica owns it now.
func TestLoopFenced(t *testing.T) {
	srv := etcdtest.Start(t)
	body := entryJSON(loopID, "cm", `{"replicas": 2}`)
	owned := plan.Labels(digestOf(t, body))
	notLeader := fmt.Errorf("check leadership: %w: election key gone", leader.ErrNotLeader)
	refused := fmt.Errorf("create: Post \"https://api/secrets\": POST refused: %w", leader.ErrNotLeader)
	tests := []struct {
		name     string
		releases []*release.Release
		entry    string
		checkErr error
		// pause makes installs and upgrades end the term and fail with
		// this error.
		pause error
		// revoke deletes the store's fence key before the reconcile.
		revoke bool
		// cancelled: the term's context has ended.
		cancelled  bool
		calls      []string
		wantFenced []string
		// state is the release status in the state entry afterwards, ""
		// for none; it must carry no error.
		state string
	}{
		{name: "term over: no install", entry: body, checkErr: notLeader,
			wantFenced: []string{leader.FencedHelmAction}, state: configdb.ReleasePendingInstall},
		{name: "term over: no uninstall", releases: []*release.Release{stored(1, release.StatusDeployed, owned)},
			checkErr: notLeader, wantFenced: []string{leader.FencedHelmAction}},
		{name: "term over: no unlock", releases: []*release.Release{stored(1, release.StatusPendingInstall, owned)}, entry: body,
			checkErr: notLeader, wantFenced: []string{leader.FencedHelmAction}},
		{name: "term over: no adoption", releases: []*release.Release{stored(1, release.StatusDeployed, nil)}, entry: body,
			checkErr: notLeader, wantFenced: []string{leader.FencedHelmAction}},
		{name: "paused in an install: its writes refused", entry: body, pause: refused,
			calls: []string{"install sdp-x"}, state: configdb.ReleasePendingInstall},
		{name: "paused in an upgrade: failed after the term ended", releases: []*release.Release{stored(1, release.StatusDeployed, plan.Labels("0"))},
			entry: body, pause: errors.New("etcd lease lost, timeout"), calls: []string{"upgrade sdp-x"}, state: configdb.ReleasePendingUpgrade},
		{name: "state write fenced: no install", entry: body, revoke: true},
		{name: "term's context ended: nothing done", entry: body, cancelled: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := srv.Client(t)
			store, err := configdb.NewStore(client, fmt.Sprintf("/fenced%d", i))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			lease, err := client.Grant(ctx, 60)
			if err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("/fenced%d/leader", i)
			put, err := client.Put(ctx, key, "me", clientv3.WithLease(lease.ID))
			if err != nil {
				t.Fatal(err)
			}
			term := newFakeTerm(tt.checkErr)
			fh := newFakeHelm(tt.releases...)
			var helm Helm = fh
			if tt.pause != nil {
				helm = pausingHelm{fakeHelm: fh, term: term, err: tt.pause}
			}
			reg := prometheus.NewRegistry()
			r := New(Config{
				Store: store.Fenced(keyFence{key: key, rev: put.Header.Revision}), Term: term, Helm: helm, Charts: testCharts, Index: fh,
				Confine: confine.Confiner{Namespace: ns, Mapper: testMapper()},
				Prefix:  "sdp", Timeout: time.Minute, Options: Options{Workers: 1, MaxAttempts: 2},
				Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}, NewMetrics(reg, fh.CountByStatus), reg)
			if tt.entry != "" {
				if _, err := client.Put(ctx, store.Layout().DeploymentKey(loopID), tt.entry); err != nil {
					t.Fatal(err)
				}
				dep, derr := configdb.DecodeDeployment(loopID, []byte(tt.entry))
				r.onEvent(configdb.DeploymentEvent{ID: loopID, Deployment: dep, Err: derr})
			}
			if tt.revoke {
				if _, err := client.Revoke(ctx, lease.ID); err != nil {
					t.Fatal(err)
				}
			}
			r.listed.Open()
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			if err := r.work(wctx, loopID); err != nil && !tt.cancelled {
				t.Errorf("work = %v, want the key dropped (nil)", err)
			}
			if calls := fh.takeCalls(); !slices.Equal(calls, tt.calls) {
				t.Errorf("helm calls %v, want %v", calls, tt.calls)
			}
			term.mu.Lock()
			over, fencedWhat := len(term.over), term.fenced
			term.mu.Unlock()
			if wantOver := !tt.cancelled; (over > 0) != wantOver {
				t.Errorf("term told it is over %d times; want it told: %v", over, wantOver)
			}
			if !slices.Equal(fencedWhat, tt.wantFenced) {
				t.Errorf("fenced %v, want %v", fencedWhat, tt.wantFenced)
			}
			if n, _ := r.attempts.exhausted(loopID, plan.Digest(configdb.Deployment{})); n != 0 {
				t.Errorf("%d attempts spent in a term that was over", n)
			}
			st, found, err := store.GetState(ctx, loopID)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.state == "" && found:
				t.Errorf("state entry written: %+v", st.Release)
			case tt.state != "" && (!found || st.Release == nil):
				t.Fatalf("no state entry, want status %s", tt.state)
			case tt.state != "" && (st.Release.Status != tt.state || st.Release.Error != ""):
				t.Errorf("state %+v, want status %s and no error: the deployment is not the fenced replica's to fail", st.Release, tt.state)
			}
		})
	}
}
