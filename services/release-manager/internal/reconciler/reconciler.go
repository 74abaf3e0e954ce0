// Package reconciler makes Helm releases match deployment entries. It is
// level-triggered: at start and after any gap in the config DB watch it
// looks at every entry and every Helm release; watch events and release
// changes only say which deployment to look at again. One work queue keyed
// by deployment id serialises each deployment's actions while different
// deployments proceed in parallel up to the worker count.
package reconciler

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
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

// Options are the release-manager's own settings.
type Options struct {
	// Workers bounds the deployments handled at once. A worker spends most
	// of an install waiting on API calls, so more workers than cores pay:
	// measured here on 2 cores, 16 gave ~25 % more than 8 and 24 no more
	// than 16 within the noise (docs/benchmarks/release-manager.md).
	Workers int
	// MaxAttempts bounds the install/upgrade attempts for one content of
	// an entry; after that it waits for the entry (or the chart
	// repository) to change.
	MaxAttempts int
	// UninstallUnowned makes releases without the ownership label and with
	// no helm entry be uninstalled, as the Python deployer uninstalled
	// every release of the prefix whose entry was gone; only names that
	// parse as <prefix>-<id> with a valid id are, or any name when the
	// prefix is empty. The default keeps them and reports them (a log line
	// and the unowned_releases gauge): after switching from the Python
	// deployer nothing that runs is removed unless the operator asks.
	UninstallUnowned bool
	// uninstallUnownedSet: the flag was given, so the environment does not
	// override it.
	uninstallUnownedSet bool
}

// EnvUninstallUnowned is the environment variable of the
// --uninstall-unowned setting.
const EnvUninstallUnowned = "SDP_UNINSTALL_UNOWNED"

// Bind registers the options on fs.
func (o *Options) Bind(fs *flag.FlagSet) {
	fs.IntVar(&o.Workers, "workers", 16, "deployments reconciled in parallel")
	fs.IntVar(&o.MaxAttempts, "max-attempts", 5, "install/upgrade attempts per entry content before giving up until it changes")
	fs.BoolFunc("uninstall-unowned", "uninstall Helm releases without this deployer's label and with no helm entry, as the Python deployer did (default: keep and report them; env "+EnvUninstallUnowned+")",
		func(s string) error {
			v, err := strconv.ParseBool(s)
			o.UninstallUnowned, o.uninstallUnownedSet = v, true
			return err
		})
}

// FromEnv reads the settings the environment may give, for those not
// given as flags.
func (o *Options) FromEnv(lookup func(string) (string, bool)) error {
	if v, ok := lookup(EnvUninstallUnowned); ok && v != "" && !o.uninstallUnownedSet {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s=%q: want true or false", EnvUninstallUnowned, v)
		}
		o.UninstallUnowned = b
	}
	return nil
}

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
	// written remembers the release state last written per deployment, so
	// that the echo of our own action from the release index costs no
	// config DB read. It is cleared at every resync.
	written map[string]plan.Observed
	// intended is the release part this service means each state entry to
	// hold (see statewatch.go).
	intended map[string]configdb.ReleaseStatus
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
		written:  map[string]plan.Observed{},
		intended: map[string]configdb.ReleaseStatus{},
		unowned:  map[string]bool{},
		listed:   controller.NewGate("deployment entries not listed yet"),
	}
	r.recovery = r.newRecovery()
	return r
}

// Ready reports whether the first full list of entries has been taken in.
func (r *Reconciler) Ready(ctx context.Context) error { return r.listed.Ready(ctx) }

// Resync requeues every known deployment and release, and forgets the
// attempt budgets: called when the chart repository changed, since a
// chart that was missing may now be there.
func (r *Reconciler) Resync() {
	r.attempts.forgetAll()
	r.mu.Lock()
	ids := make([]string, 0, len(r.desired))
	for id := range r.desired {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	for _, id := range ids {
		r.queue.Add(id)
	}
	r.enqueueReleases()
}

// ReleaseChanged is the release index's event handler.
func (r *Reconciler) ReleaseChanged(name string) {
	r.noteUnowned(name)
	if id, ok := configdb.IDFromReleaseName(r.cfg.Prefix, name); ok {
		r.queue.Add(id)
	}
}

// noteUnowned keeps the report of releases without our label and with no
// helm entry up to date for one release name: a log line when one is first
// seen, and the gauge. Until the first list of entries is in, every
// release would look entry-less, so nothing is reported before.
func (r *Reconciler) noteUnowned(name string) {
	if r.listed.Ready(context.Background()) != nil {
		return
	}
	obs, found := r.cfg.Index.Latest(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	unowned := found && !obs.Owned
	if id, ok := configdb.IDFromReleaseName(r.cfg.Prefix, name); ok && unowned {
		_, hasEntry := r.desired[id]
		unowned = !hasEntry
	}
	switch {
	case unowned && !r.unowned[name]:
		r.unowned[name] = true
		r.cfg.Log.Warn("release without this deployer's label and with no helm entry",
			"release", name, "status", string(obs.Status), "uninstall_unowned", r.cfg.Options.UninstallUnowned)
	case !unowned && r.unowned[name]:
		delete(r.unowned, name)
	}
	r.metrics.unownedReleases.Set(float64(len(r.unowned)))
}

func (r *Reconciler) enqueueReleases() {
	for _, name := range r.cfg.Index.Names() {
		r.ReleaseChanged(name)
	}
}

// Run follows the config DB and works the queue until ctx ends. The
// release index must be running and synced before Run is called.
func (r *Reconciler) Run(ctx context.Context) error {
	watch := func(ctx context.Context) error {
		if err := r.cfg.Store.WatchDeployments(ctx, configdb.DeploymentWatch{OnResync: r.onResync, OnEvent: r.onEvent}); err != nil {
			return fmt.Errorf("watch deployments: %w", err)
		}
		return nil
	}
	return controller.Loop{Queue: r.queue, Workers: r.cfg.Options.Workers, Log: r.cfg.Log, Reconcile: r.work,
		Gate: r.listed, Sources: []controller.Source{watch, r.watchStates}, Recovery: r.recovery}.Run(ctx)
}

// work is a worker's reconcile within the term. Once the term has ended
// the workers take no new action: the keys left in the queue are drained
// untouched, and a reconcile the fence stopped is dropped, not retried,
// since the other replica owns the deployment now.
func (r *Reconciler) work(ctx context.Context, id string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err := r.reconcile(ctx, id)
	if r.cfg.Term.Over(err) {
		return nil
	}
	return err
}

// fenced reports whether err says the term is over: a config DB write
// fenced out, or an action refused for want of leadership.
func fenced(err error) bool {
	return errors.Is(err, leader.ErrNotLeader) || errors.Is(err, configdb.ErrFenced)
}

func (r *Reconciler) onResync(list configdb.DeploymentList, reason string) {
	next := make(map[string]entry, len(list.Deployments)+len(list.Errors))
	for _, d := range list.Deployments {
		if d.IsHelm() {
			next[d.ID] = entry{dep: d}
		} else {
			r.logOtherKind(d)
		}
	}
	for _, e := range list.Errors {
		if e.ID != "" {
			next[e.ID] = entry{err: e.Err}
		} else {
			r.cfg.Log.Warn("unreadable key under /deploy/", "error", e.Err)
		}
	}
	r.mu.Lock()
	previous := r.desired
	r.desired = next
	r.written = map[string]plan.Observed{}
	r.mu.Unlock()
	// Everything that is, was, or has a release is looked at: a
	// deployment deleted during a gap is found through its release.
	for id := range next {
		r.queue.Add(id)
	}
	for id := range previous {
		r.queue.Add(id)
	}
	r.listed.Open()
	r.enqueueReleases()
	r.cfg.Log.Info("deployments listed", "reason", reason, "helm_deployments", len(next), "revision", list.Revision)
}

func (r *Reconciler) onEvent(ev configdb.DeploymentEvent) {
	if ev.ID == "" {
		r.cfg.Log.Warn("unreadable key under /deploy/", "error", ev.Err)
		return
	}
	r.mu.Lock()
	switch {
	case ev.Deleted:
		delete(r.desired, ev.ID)
	case ev.Err != nil:
		r.desired[ev.ID] = entry{err: ev.Err}
	case !ev.Deployment.IsHelm():
		// Now another deployer's: this one lets go of its release.
		delete(r.desired, ev.ID)
		r.logOtherKind(ev.Deployment)
	default:
		r.desired[ev.ID] = entry{dep: ev.Deployment}
	}
	r.mu.Unlock()
	if name, err := configdb.ReleaseName(r.cfg.Prefix, ev.ID); err == nil {
		r.noteUnowned(name)
	}
	r.queue.Add(ev.ID)
}

// logOtherKind says that an entry is left alone: it writes no state entry
// for another deployer's entry, so without this line a script whose kind
// has a typo ("Helm") would see nothing anywhere.
func (r *Reconciler) logOtherKind(d configdb.Deployment) {
	r.cfg.Log.Info("deployment entry left to other deployers: not of kind helm", "deployment", d.ID, "kind", d.Kind)
}

// maxSteps bounds one reconcile's actions: the longest path is adopt,
// then unlock (or finish an uninstall), then install or upgrade, then
// observe.
const maxSteps = 5

// reconcile brings one deployment's release in line with its entry: it
// observes, asks plan.Decide, runs the one action named, and looks again
// until nothing is to be done.
func (r *Reconciler) reconcile(ctx context.Context, id string) (err error) {
	start := time.Now()
	defer func() { r.countReconcile(start, err) }()
	r.mu.Lock()
	e, present := r.desired[id]
	r.mu.Unlock()

	name, nameErr := configdb.ReleaseName(r.cfg.Prefix, id)
	if nameErr != nil {
		if !present {
			return nil // no entry and no release can have this name
		}
		if e.err == nil {
			e.err = nameErr
		}
	}
	t := target{id: id, name: name, dep: e.dep}
	t.want.UninstallUnowned = r.cfg.Options.UninstallUnowned
	switch {
	case present && e.err != nil:
		t.want.Err = e.err
	case present:
		t.want.Present, t.want.Digest = true, plan.Digest(e.dep)
	}

	// Fast path: the cache says nothing is to be done, so no API call.
	cached, inCache := r.cfg.Index.Latest(name)
	if t.want.Err == nil && (inCache || !present) && plan.Decide(t.want, cached) == plan.None {
		if present && r.alreadyWritten(id, cached) {
			return nil
		}
		return r.settled(ctx, t, cached)
	}
	// A new deployment whose release the (synced) cache has never seen is
	// installed without reading first: Helm's install reads the history
	// itself and refuses a name in use, and then the loop looks again.
	trustAbsent := t.want.Present && !inCache
	for range maxSteps {
		var rel *release.Release
		if !trustAbsent {
			rel, err = r.cfg.Helm.Last(name)
			if err != nil && !errors.Is(err, helmexec.ErrNotFound) {
				return err
			}
		}
		trustAbsent = false
		obs := plan.ObservedFrom(rel)
		act := plan.Decide(t.want, obs)
		switch act {
		case plan.None:
			return r.settled(ctx, t, obs)
		case plan.ReportError:
			return r.reportBadEntry(ctx, t, obs)
		case plan.Adopt:
			err = r.adopt(ctx, t, rel)
		case plan.Unlock:
			err = r.unlock(ctx, t, rel)
		case plan.Uninstall:
			// Helm's uninstall deletes every revision or fails: once it
			// returns nil there is nothing to read again (a label-selected
			// LIST over every release Secret).
			err = r.uninstall(ctx, t)
			trustAbsent = err == nil
		case plan.Install, plan.Upgrade:
			err = r.apply(ctx, act, t, obs)
			if errors.Is(err, helmexec.ErrNameInUse) {
				continue // the cache lagged: look at the live release
			}
			return err
		default:
			return fmt.Errorf("deployment %s: plan named unknown action %q", id, act)
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("deployment %s: not settled after %d steps", id, maxSteps)
}

// target is what one reconcile works on.
type target struct {
	id, name string
	dep      configdb.Deployment
	want     plan.Desired
}

func (r *Reconciler) countReconcile(start time.Time, err error) {
	r.metrics.reconcileSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		r.metrics.reconciles.WithLabelValues("success").Inc()
	case errors.Is(err, controller.ErrPermanent):
		r.metrics.reconciles.WithLabelValues("permanent").Inc()
	default:
		r.metrics.reconciles.WithLabelValues("error").Inc()
	}
}

// settled records a release that needs no action: its state for a present
// entry, or the removal of an orphaned state entry.
func (r *Reconciler) settled(ctx context.Context, t target, obs plan.Observed) error {
	r.noteUnowned(t.name)
	if t.want.Present {
		return r.writeState(ctx, t, obs, "", "")
	}
	return r.dropOrphanState(ctx, t.id)
}

// reportBadEntry says in the state entry why an entry cannot be deployed,
// leaving any release as it is, and waits for the entry to change.
func (r *Reconciler) reportBadEntry(ctx context.Context, t target, obs plan.Observed) error {
	reason := "bad-entry"
	if errors.Is(t.want.Err, configdb.ErrInvalidReleaseName) || errors.Is(t.want.Err, configdb.ErrInvalidID) {
		reason = "release-name"
	}
	r.metrics.entryErrors.WithLabelValues(reason).Inc()
	r.cfg.Log.Warn("deployment entry cannot be deployed", "deployment", t.id, "error", t.want.Err)
	if werr := r.writeError(ctx, t, obs, t.want.Err); werr != nil {
		return werr
	}
	return controller.Permanent(t.want.Err)
}

// act runs one Helm action with its log line and metrics, once etcd has
// said that the term still holds. An action that fails after the term
// ended (a paused process whose requests the Kubernetes client refused on
// resuming) returns an error wrapping leader.ErrNotLeader, whatever Helm
// made of the refusal.
func (r *Reconciler) act(ctx context.Context, a plan.Action, id, name string, fn func() error) error {
	if err := r.cfg.Term.Check(ctx); err != nil {
		if errors.Is(err, leader.ErrNotLeader) {
			r.cfg.Term.Fenced(leader.FencedHelmAction)
		}
		return fmt.Errorf("deployment %s: %s not started: %w", id, a, err)
	}
	start := time.Now()
	err := fn()
	r.metrics.actionSeconds.WithLabelValues(string(a)).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, leader.ErrNotLeader) && !r.cfg.Term.Valid() {
		err = fmt.Errorf("%w: term ended during the action: %w", leader.ErrNotLeader, err)
	}
	if err != nil {
		r.metrics.actions.WithLabelValues(string(a), "error").Inc()
		r.cfg.Log.Warn("helm action failed", "deployment", id, "release", name, "action", string(a), "error", err)
		return err
	}
	r.metrics.actions.WithLabelValues(string(a), "success").Inc()
	r.cfg.Log.Info("helm action done", "deployment", id, "release", name, "action", string(a), "duration", time.Since(start).String())
	return nil
}
