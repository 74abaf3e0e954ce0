// Package reconciler makes Helm releases match deployment entries. It is
// level-triggered: at start and after any gap in the config DB watch it
// looks at every entry and every Helm release; watch events and release
// changes only say which deployment to look at again. One work queue keyed
// by deployment id serialises each deployment's actions while different
// deployments proceed in parallel up to the worker count.
//
// It is the release-manager's controller, over charts, helmexec and the
// release index: docs/architecture.md, §4. From an entry to a release and a state.
package reconciler

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/charts"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
)

// ChartLoader loads the chart a deployment names, with a warning for the
// state entry when it was loaded but not quite as expected.
type ChartLoader interface {
	Fetch(ctx context.Context, ref, version string) (charts.Loaded, error)
}

// Helm is what the loop asks of Helm (helmexec.Runner in production, a
// fake in the loop's unit tests). One release's calls are serialised by
// the caller.
type Helm interface {
	// Last returns the latest stored revision, read live, or an error
	// wrapping helmexec.ErrNotFound.
	Last(name string) (*release.Release, error)
	// Install fails with an error wrapping helmexec.ErrNameInUse when the
	// name already has a revision.
	Install(ctx context.Context, s helmexec.Spec) (*release.Release, error)
	Upgrade(ctx context.Context, s helmexec.Spec) (*release.Release, error)
	Uninstall(ctx context.Context, name string, timeout time.Duration) error
	// MarkFailed records a revision left pending by a crash as failed.
	MarkFailed(rel *release.Release, why string) error
	// Relabel sets labels on the stored latest revision, making no new
	// revision.
	Relabel(rel *release.Release, labels map[string]string) error
}

// Term is the term of leadership the reconciler acts in (leader.Term; a
// nil *leader.Term when leader election is off). Each Helm action is taken
// only after Check has asked etcd that the term still holds; an action cut
// short because the term ended is not a failure of the deployment, since
// the other replica owns it now.
type Term interface {
	Check(ctx context.Context) error
	Valid() bool
	// Over ends the term if err says it is over, and reports whether it
	// did: the work is then dropped, not retried.
	Over(err error) bool
	Fenced(what string)
}

// ReleaseIndex is the cached view of the namespace's Helm releases, owned
// or not (Observed.Owned says which).
type ReleaseIndex interface {
	Latest(name string) (plan.Observed, bool)
	Names() []string
	CountByStatus() map[string]int
}

// Config is what a Reconciler works with.
type Config struct {
	// Store's writes carry the term's fence (configdb.Store.Fenced).
	Store   *configdb.Store
	Term    Term
	Helm    Helm
	Charts  ChartLoader
	Index   ReleaseIndex
	Confine postrender.PostRenderer
	// Prefix is SDP_HELM_PREFIX; Timeout is SDP_HELM_TIMEOUT.
	Prefix  string
	Timeout time.Duration
	Options Options
	Log     *slog.Logger
	// Now is the clock for state timestamps (tests fix it).
	Now func() time.Time
	// Objects looks after the objects of each release (drift,
	// readiness); nil: none.
	Objects Objects
	// KubeReady, if set, checks that the Kubernetes API answers: the
	// deployments that failed while it was away go at once when it is back.
	KubeReady controller.Check
}

// Reconciler is the release-manager's controller.
type Reconciler struct {
	cfg      Config
	queue    controller.Queue
	recovery *controller.Recovery
	metrics  *Metrics

	attempts *attempts

	mu      sync.Mutex
	desired map[string]entry
	// part is the release part of the state entries as last written (the
	// observed release, so that the echo of our own action from the
	// release index costs no config DB read) and as meant, and the watch
	// that repairs it (statewatch.go).
	part *controller.StatePart[plan.Observed, configdb.ReleaseStatus]
	// objectsChanged marks the deployments whose release's objects
	// changed since they were last looked at.
	objectsChanged map[string]bool
	// unowned holds the releases without our label and with no helm
	// entry, each reported once.
	unowned map[string]bool

	// listed opens at the first full list of entries (OnResync): until
	// then no key is worked and nothing is reported unowned, since a
	// release whose entry has not been read yet would look entry-less.
	listed *controller.Gate
}

// entry is the last known content of a deployment entry of kind helm: a
// deployment, or why it cannot be read.
type entry struct {
	dep configdb.Deployment
	err error
}

// maxRetryDelay caps the backoff between retries of one deployment. Only
// failures outside the attempt budget (chart source or Kubernetes API
// away) back off this far; with the 5 minutes of before, deployments that
// failed through a 30 s API server stop waited up to ~100 s more after it
// was back (measured by the e2e chaos run).
const maxRetryDelay = 30 * time.Second

// New returns a Reconciler for one term of leadership: its work queue
// ends with the term, so each term gets a new one. Metrics are shared
// across terms (NewMetrics, once per process); the queue's are registered on
// reg.
func New(cfg Config, m *Metrics, reg prometheus.Registerer) *Reconciler {
	if cfg.Options.Workers <= 0 {
		cfg.Options.Workers = 16
	}
	if cfg.Options.MaxAttempts <= 0 {
		cfg.Options.MaxAttempts = 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Term == nil {
		cfg.Term = (*leader.Term)(nil)
	}
	r := &Reconciler{
		cfg:      cfg,
		queue:    controller.NewQueue("release-manager", reg, controller.QueueOptions{BaseDelay: 200 * time.Millisecond, MaxDelay: maxRetryDelay}),
		metrics:  m,
		desired:  map[string]entry{},
		attempts: newAttempts(cfg.Options.MaxAttempts),
		unowned:  map[string]bool{},

		objectsChanged: map[string]bool{},
		listed:         controller.NewGate("deployment entries not listed yet"),
	}
	r.recovery = r.newRecovery()
	r.part = r.newStatePart()
	return r
}
