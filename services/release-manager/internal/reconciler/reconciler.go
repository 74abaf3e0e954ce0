// Package reconciler makes Helm releases match deployment entries. It is
// level-triggered: at start and after any gap in the config DB watch it
// looks at every entry and every owned release; watch events and release
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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/charts"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
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
}

// Bind registers the options on fs.
func (o *Options) Bind(fs *flag.FlagSet) {
	fs.IntVar(&o.Workers, "workers", 16, "deployments reconciled in parallel")
	fs.IntVar(&o.MaxAttempts, "max-attempts", 5, "install/upgrade attempts per entry content before giving up until it changes")
}

// ChartLoader loads the chart a deployment names.
type ChartLoader interface {
	Load(ctx context.Context, ref, version string) (*chart.Chart, error)
}

// ReleaseIndex is the cached view of owned releases.
type ReleaseIndex interface {
	Latest(name string) (plan.Observed, bool)
	Names() []string
	CountByStatus() map[string]int
}

// Config is what a Reconciler works with.
type Config struct {
	Store   *configdb.Store
	Helm    *helmexec.Runner
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
}

// Reconciler is the release-manager's controller.
type Reconciler struct {
	cfg     Config
	queue   controller.Queue
	metrics *Metrics

	mu       sync.Mutex
	desired  map[string]entry
	attempts map[string]attempt
	// written remembers the release state last written per deployment, so
	// that the echo of our own action from the release index costs no
	// config DB read. It is cleared at every resync.
	written map[string]plan.Observed

	synced atomic.Bool
	listed chan struct{} // closed at the first OnResync
}

// entry is the last known content of a deployment entry of kind helm: a
// deployment, or why it cannot be read.
type entry struct {
	dep configdb.Deployment
	err error
}

// attempt counts failed install/upgrade attempts for one entry content.
type attempt struct {
	digest string
	n      int
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
	return &Reconciler{
		cfg:      cfg,
		queue:    controller.NewQueue("release-manager", reg, controller.QueueOptions{BaseDelay: 200 * time.Millisecond, MaxDelay: maxRetryDelay}),
		metrics:  m,
		desired:  map[string]entry{},
		attempts: map[string]attempt{},
		written:  map[string]plan.Observed{},
		listed:   make(chan struct{}),
	}
}

// Ready reports whether the first full list of entries has been taken in.
func (r *Reconciler) Ready(context.Context) error {
	if !r.synced.Load() {
		return errors.New("deployment entries not listed yet")
	}
	return nil
}

// Resync requeues every known deployment and release, and forgets the
// attempt budgets: called when the chart repository changed, since a
// chart that was missing may now be there.
func (r *Reconciler) Resync() {
	r.mu.Lock()
	r.attempts = map[string]attempt{}
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
	if id, ok := configdb.IDFromReleaseName(r.cfg.Prefix, name); ok {
		r.queue.Add(id)
	}
}

func (r *Reconciler) enqueueReleases() {
	for _, name := range r.cfg.Index.Names() {
		r.ReleaseChanged(name)
	}
}

// Run follows the config DB and works the queue until ctx ends. The
// release index must be running and synced before Run is called.
func (r *Reconciler) Run(ctx context.Context) error {
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- r.cfg.Store.WatchDeployments(ctx, configdb.DeploymentWatch{OnResync: r.onResync, OnEvent: r.onEvent})
	}()
	// No key is worked before the first full list of entries: release
	// events arrive from the start, and a release whose entry has not been
	// read yet would look like one whose entry is gone.
	select {
	case <-r.listed:
	case <-ctx.Done():
	}
	controller.RunWorkers(ctx, r.queue, r.cfg.Options.Workers, r.cfg.Log, r.reconcile)
	if err := <-watchDone; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("watch deployments: %w", err)
	}
	return nil
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
	r.enqueueReleases()
	if !r.synced.Swap(true) {
		close(r.listed)
	}
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
	r.queue.Add(ev.ID)
}

// logOtherKind says that an entry is left alone: it writes no state entry
// for another deployer's entry, so without this line a script whose kind
// has a typo ("Helm") would see nothing anywhere.
func (r *Reconciler) logOtherKind(d configdb.Deployment) {
	r.cfg.Log.Info("deployment entry left to other deployers: not of kind helm", "deployment", d.ID, "kind", d.Kind)
}

// maxSteps bounds one reconcile's actions: the longest path is unlock (or
// finish an uninstall), then install or upgrade, then observe.
const maxSteps = 4

// reconcile brings one deployment's release in line with its entry.
func (r *Reconciler) reconcile(ctx context.Context, id string) (err error) {
	start := time.Now()
	defer func() {
		r.metrics.reconcileSeconds.Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
			r.metrics.reconciles.WithLabelValues("success").Inc()
		case errors.Is(err, controller.ErrPermanent):
			r.metrics.reconciles.WithLabelValues("permanent").Inc()
		default:
			r.metrics.reconciles.WithLabelValues("error").Inc()
		}
	}()
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
	var d plan.Desired
	switch {
	case present && e.err != nil:
		d.Err = e.err
	case present:
		d.Present, d.Digest = true, plan.Digest(e.dep)
	}

	// Fast path: the cache says nothing is to be done, so no API call.
	cached, inCache := r.cfg.Index.Latest(name)
	if d.Err == nil && (inCache || !present) && plan.Decide(d, cached) == plan.None {
		if present {
			r.mu.Lock()
			last, seen := r.written[id]
			r.mu.Unlock()
			if seen && last == cached {
				return nil
			}
			return r.writeState(ctx, id, e.dep, name, cached, "")
		}
		return r.dropOrphanState(ctx, id)
	}
	// A new deployment whose release the (synced) cache has never seen is
	// installed without reading first: Helm's install reads the history
	// itself and refuses a name in use, and then the loop looks again.
	trustAbsent := d.Present && !inCache
	for range maxSteps {
		var rel *release.Release
		if !trustAbsent {
			var err error
			rel, err = r.cfg.Helm.Last(name)
			if err != nil && !errors.Is(err, helmexec.ErrNotFound) {
				return err
			}
		}
		trustAbsent = false
		obs := plan.ObservedFrom(rel)
		act := plan.Decide(d, obs)
		switch act {
		case plan.None:
			if present {
				return r.writeState(ctx, id, e.dep, name, obs, "")
			}
			return r.dropOrphanState(ctx, id)
		case plan.ReportError:
			reason := "bad-entry"
			if errors.Is(d.Err, configdb.ErrInvalidReleaseName) || errors.Is(d.Err, configdb.ErrInvalidID) {
				reason = "release-name"
			}
			r.metrics.entryErrors.WithLabelValues(reason).Inc()
			r.cfg.Log.Warn("deployment entry cannot be deployed", "deployment", id, "error", d.Err)
			if werr := r.writeError(ctx, id, name, e.dep, obs, d.Err); werr != nil {
				return werr
			}
			return controller.Permanent(d.Err)
		case plan.RefuseForeign:
			ferr := fmt.Errorf("release name %q is taken by a release this deployer does not own (no %s=%s label); delete it or change SDP_HELM_PREFIX",
				name, plan.LabelManagedBy, plan.ManagedByValue)
			r.metrics.entryErrors.WithLabelValues("foreign-release").Inc()
			r.cfg.Log.Warn("release name taken", "deployment", id, "release", name)
			if werr := r.writeError(ctx, id, name, e.dep, plan.Observed{}, ferr); werr != nil {
				return werr
			}
			return controller.Permanent(ferr)
		case plan.Unlock:
			why := fmt.Sprintf("%s interrupted (release-manager restarted); unlocked", obs.Status)
			if err := r.act(plan.Unlock, id, name, func() error { return r.cfg.Helm.MarkFailed(rel, why) }); err != nil {
				return err
			}
		case plan.Uninstall:
			if err := r.act(plan.Uninstall, id, name, func() error { return r.cfg.Helm.Uninstall(ctx, name, r.cfg.Timeout) }); err != nil {
				return err
			}
		case plan.Install, plan.Upgrade:
			err := r.apply(ctx, act, id, name, e.dep, d.Digest, obs)
			if errors.Is(err, errNameInUse) {
				continue
			}
			return err
		}
	}
	return fmt.Errorf("deployment %s: not settled after %d steps", id, maxSteps)
}

// act runs one Helm action with its log line and metrics.
func (r *Reconciler) act(a plan.Action, id, name string, fn func() error) error {
	start := time.Now()
	err := fn()
	r.metrics.actionSeconds.WithLabelValues(string(a)).Observe(time.Since(start).Seconds())
	if err != nil {
		r.metrics.actions.WithLabelValues(string(a), "error").Inc()
		r.cfg.Log.Warn("helm action failed", "deployment", id, "release", name, "action", string(a), "error", err)
		return err
	}
	r.metrics.actions.WithLabelValues(string(a), "success").Inc()
	r.cfg.Log.Info("helm action done", "deployment", id, "release", name, "action", string(a), "duration", time.Since(start).String())
	return nil
}

// apply installs or upgrades, within the attempt budget of this content.
func (r *Reconciler) apply(ctx context.Context, act plan.Action, id, name string, dep configdb.Deployment, digest string, obs plan.Observed) error {
	r.mu.Lock()
	a := r.attempts[id]
	r.mu.Unlock()
	if a.digest == digest && a.n >= r.cfg.Options.MaxAttempts {
		r.metrics.entryErrors.WithLabelValues("gave-up").Inc()
		return controller.Permanent(fmt.Errorf("deployment %s: gave up after %d failed attempts; change the entry to try again", id, a.n))
	}
	failed := func(reason string, err error) error {
		r.mu.Lock()
		cur := r.attempts[id]
		if cur.digest != digest {
			cur = attempt{digest: digest}
		}
		// A repository or a Kubernetes API that is away is nobody's fault
		// in the entry: retry with backoff for as long as it takes,
		// outside the budget (an API server down for 30 s used it up in
		// ~3 s, and the deployment then waited for its entry to change).
		if !errors.Is(err, charts.ErrUnreachable) && !helmexec.IsUnreachable(err) {
			cur.n++
		}
		// A refusal (confinement, an API not served) is the same on every
		// attempt: the budget is spent at once, so that not even the
		// change of Helm's failed record of a refused hook retries it, as
		// an upgrade, which would skip the install hooks.
		if errors.Is(err, controller.ErrPermanent) {
			cur.n = r.cfg.Options.MaxAttempts
		}
		r.attempts[id] = cur
		r.mu.Unlock()
		r.metrics.entryErrors.WithLabelValues(reason).Inc()
		if latest, lerr := r.cfg.Helm.Last(name); lerr == nil {
			obs = plan.ObservedFrom(latest)
		}
		if werr := r.writeError(ctx, id, name, dep, obs, err); werr != nil {
			r.cfg.Log.Warn("state write failed", "deployment", id, "error", werr)
		}
		if errors.Is(err, confine.ErrOutside) || cur.n >= r.cfg.Options.MaxAttempts {
			return controller.Permanent(err)
		}
		return err
	}
	ch, err := r.cfg.Charts.Load(ctx, dep.Chart, dep.Version)
	if err != nil {
		return failed("chart", fmt.Errorf("chart %q: %w", dep.Chart, err))
	}
	pending := configdb.ReleasePendingInstall
	if act == plan.Upgrade {
		pending = configdb.ReleasePendingUpgrade
	}
	if err := r.writeStatus(ctx, id, name, dep, pending, obs.Revision, ch.Metadata.Version, ""); err != nil {
		if errors.Is(err, configdb.ErrNoDeployment) {
			return nil // deleted meanwhile: the next reconcile uninstalls
		}
		r.cfg.Log.Warn("state write failed", "deployment", id, "error", err)
	}
	spec := helmexec.Spec{Name: name, Chart: ch, Values: helmValues(dep.Values), Labels: plan.Labels(digest),
		Timeout: r.cfg.Timeout, PostRenderer: r.cfg.Confine}
	var rel *release.Release
	err = r.act(act, id, name, func() error {
		var aerr error
		if act == plan.Install {
			rel, aerr = r.cfg.Helm.Install(ctx, spec)
		} else {
			rel, aerr = r.cfg.Helm.Upgrade(ctx, spec)
		}
		return aerr
	})
	if err != nil && act == plan.Install && (errors.Is(err, driver.ErrReleaseExists) ||
		strings.Contains(err.Error(), "cannot re-use a name that is still in use")) {
		return errNameInUse
	}
	if err != nil {
		reason := "helm"
		if errors.Is(err, confine.ErrOutside) {
			reason = "confinement"
		}
		return failed(reason, err)
	}
	r.mu.Lock()
	delete(r.attempts, id)
	r.mu.Unlock()
	return r.writeState(ctx, id, dep, name, plan.ObservedFrom(rel), ch.Metadata.Version)
}

// errNameInUse: an install found a release the cache did not show.
var errNameInUse = errors.New("release name in use")

// writeState records an observed release in the state entry.
func (r *Reconciler) writeState(ctx context.Context, id string, dep configdb.Deployment, name string, obs plan.Observed, chartVersion string) error {
	if err := r.writeStatus(ctx, id, name, dep, string(obs.Status), obs.Revision, chartVersion, ""); err != nil {
		return err
	}
	r.mu.Lock()
	r.written[id] = obs
	r.mu.Unlock()
	return nil
}

// writeError records an error, keeping what is known of the release.
func (r *Reconciler) writeError(ctx context.Context, id, name string, dep configdb.Deployment, obs plan.Observed, err error) error {
	// The release's own status stays (a bad edit leaves a deployed release
	// deployed); with no release, the deployment has failed.
	status := configdb.ReleaseFailed
	if obs.Exists {
		status = string(obs.Status)
	}
	werr := r.writeStatus(ctx, id, name, dep, status, obs.Revision, "", err.Error())
	if errors.Is(werr, configdb.ErrNoDeployment) {
		return nil
	}
	return werr
}

// writeStatus sets the release part; nothing is written when only the
// time would change. An empty chartVersion keeps the recorded one while the
// revision is the same (the release index does not know versions).
func (r *Reconciler) writeStatus(ctx context.Context, id, name string, dep configdb.Deployment, status string, revision int, chartVersion, errText string) error {
	r.mu.Lock()
	delete(r.written, id)
	r.mu.Unlock()
	start := time.Now()
	defer func() { r.metrics.stateWriteTime.Observe(time.Since(start).Seconds()) }()
	res, err := r.cfg.Store.UpdateRelease(ctx, id, func(cur configdb.ReleaseStatus, _ bool) configdb.ReleaseStatus {
		next := configdb.ReleaseStatus{Name: name, Status: status, Revision: revision, Chart: dep.Chart, Version: chartVersion, Error: errText}
		if next.Version == "" && cur.Revision == revision {
			next.Version = cur.Version
		}
		if next.Revision == 0 && errText != "" {
			next.Revision = cur.Revision
		}
		next.Time = cur.Time
		if next == cur {
			return cur
		}
		next.SetTime(r.cfg.Now())
		return next
	})
	switch {
	case errors.Is(err, configdb.ErrNoDeployment):
		r.metrics.stateWrites.WithLabelValues("no-deployment").Inc()
		return err
	case err != nil:
		r.metrics.stateWrites.WithLabelValues("error").Inc()
		return fmt.Errorf("deployment %s: write state: %w", id, err)
	case res.Written:
		r.metrics.stateWrites.WithLabelValues("written").Inc()
	default:
		r.metrics.stateWrites.WithLabelValues("unchanged").Inc()
	}
	return nil
}

func (r *Reconciler) dropOrphanState(ctx context.Context, id string) error {
	r.mu.Lock()
	delete(r.attempts, id)
	delete(r.written, id)
	r.mu.Unlock()
	if _, err := r.cfg.Store.DeleteOrphanState(ctx, id); err != nil {
		return fmt.Errorf("deployment %s: %w", id, err)
	}
	return nil
}
