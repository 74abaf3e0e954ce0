// Package monitor keeps the "pods" part of each deployment's state entry,
// and the "reasons" part beside it, equal to what the pod cache says. It is level-triggered: a reconcile of
// a deployment computes its whole pods map from the cache and writes it only
// when it differs; pod events and config DB events only say which
// deployment to look at again. A burst of pod changes for one deployment
// waits in the work queue as one key, so it becomes one write.
//
// It is the pod-monitor's controller, the only writer of the "pods" part:
// docs/architecture.md, §4. From an entry to a release and a state, step 6; docs/architecture.md, §3. Who owns which key.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
)

// Pods is the pod cache as the monitor uses it.
type Pods interface {
	// Pods returns the pods map and reasons of a deployment.
	Pods(id string) (configdb.PodReport, error)
	// Classify returns a pod object's deployment id, or why it has none
	// (podcache.NoReleaseLabel, OtherPrefix, InvalidID).
	Classify(obj any) (id, ignored string)
	CountByStatus() map[configdb.PodStatus]int
}

// sweepKey is the work-queue key of the search for state entries whose
// deployment is gone; deployment ids are never empty. Through the queue, a
// failed search is retried with backoff like any reconcile.
const sweepKey = ""

// Term is the term of leadership the monitor writes in (leader.Term).
type Term interface {
	// Over ends the term if err says it is over (a write fenced out), and
	// reports whether it did: the work is then dropped, not retried.
	Over(err error) bool
}

// Config is what a Monitor works with.
type Config struct {
	// Store's writes carry the term's fence (configdb.Store.Fenced).
	Store *configdb.Store
	// Term, if set, is the term the Store is fenced by.
	Term    Term
	Pods    Pods
	Workers int
	Log     *slog.Logger
}

// Monitor is the pod-monitor's controller.
type Monitor struct {
	cfg      Config
	queue    controller.Queue
	recovery *controller.Recovery
	metrics  *Metrics

	mu    sync.Mutex
	known map[string]bool // helm deployment entries that exist
	// orphans are deployments without an entry that may still have a
	// state entry (found by the sweep, or whose entry was deleted), each
	// with the mark it got, so that only they cost a config DB call: the
	// pods of other unknown deployments are ignored.
	orphans  map[string]uint64
	orphaned uint64
	// since holds, per deployment, when the oldest change not yet written
	// was seen: the start of the event → write latency.
	since map[string]time.Time
	// part is the pods and reasons part of the state entries as last
	// written and as meant, and the watch that repairs it: a reconcile with
	// nothing new costs no config DB read.
	part *controller.StatePart[configdb.PodReport, configdb.PodReport]

	// listed opens at the first full list of deployment entries.
	listed *controller.Gate
}

// New returns a Monitor for one term of leadership (its work queue ends
// with the term). Metrics come from NewMetrics, once per process; the
// queue's are registered on reg.
func New(cfg Config, m *Metrics, reg prometheus.Registerer) *Monitor {
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Term == nil {
		cfg.Term = (*leader.Term)(nil)
	}
	c := &Monitor{
		cfg:     cfg,
		metrics: m,
		known:   map[string]bool{},
		orphans: map[string]uint64{},
		since:   map[string]time.Time{},
		listed:  controller.NewGate("deployment entries not listed yet"),
	}
	c.queue, c.recovery = controller.NewConfigDBWork("pod-monitor", reg,
		controller.QueueOptions{BaseDelay: 50 * time.Millisecond, MaxDelay: time.Minute}, cfg.Log, cfg.Store)
	c.part = controller.NewStatePart[configdb.PodReport](controller.StatePartConfig[configdb.PodReport]{
		Name: "pods or reasons part", Log: cfg.Log, Store: cfg.Store, Queue: c.queue,
		Owned: c.isKnown, Keys: c.knownIDs,
		Part: func(ch configdb.StateChange) (configdb.PodReport, bool) {
			return configdb.PodReport{Pods: ch.State.Pods, Reasons: ch.State.Reasons}, true
		},
		Same: configdb.PodReport.Equal,
	})
	return c
}

// EventHandler is the pod informer's handler: it queues the deployment of
// each changed pod (both, when a pod's labels moved it). Pods of no
// deployment are counted and logged once, when they appear or change
// label, not at every status change.
func (m *Monitor) EventHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			// The pods already cached when the handler is added arrive as
			// initial adds: not changes, so no latency is measured.
			m.podChanged(nil, obj, !initial)
		},
		UpdateFunc: func(oldObj, newObj any) { m.podChanged(oldObj, newObj, true) },
		// A pod deleted while the watch was down arrives as a tombstone
		// (DeletedFinalStateUnknown); either way the cache no longer has
		// it, so its deployment's map loses it.
		DeleteFunc: func(obj any) {
			if id, _ := m.cfg.Pods.Classify(obj); id != "" {
				m.enqueue(id, true)
			}
		},
	}
}

func (m *Monitor) podChanged(oldObj, newObj any, timed bool) {
	id, ignored := m.cfg.Pods.Classify(newObj)
	reported := false
	if oldObj != nil {
		oldID, oldIgnored := m.cfg.Pods.Classify(oldObj)
		if oldID != "" && oldID != id {
			m.enqueue(oldID, timed)
		}
		reported = oldIgnored != "" && oldIgnored == ignored
	}
	if id != "" {
		m.enqueue(id, timed)
		return
	}
	if reported {
		return
	}
	m.metrics.ignored.WithLabelValues(ignored).Inc()
	name := ""
	if pod, ok := newObj.(metav1.Object); ok {
		name = pod.GetName()
	}
	if ignored == podcache.InvalidID {
		// Our prefix, so a chart of ours labelled it: worth fixing.
		m.cfg.Log.Warn("pod ignored: its release label names no valid deployment id", "pod", name, "reason", ignored)
	} else {
		m.cfg.Log.Debug("pod ignored: not of a deployment", "pod", name, "reason", ignored)
	}
}

func (m *Monitor) enqueue(id string, timed bool) {
	if timed {
		m.mu.Lock()
		if _, pending := m.since[id]; !pending {
			m.since[id] = time.Now()
		}
		m.mu.Unlock()
	}
	m.queue.Add(id)
}

// Ready reports whether the deployment entries have been listed.
func (m *Monitor) Ready(ctx context.Context) error { return m.listed.Ready(ctx) }

// Run follows the config DB and works the queue until ctx ends. The pod
// cache must be synced first.
func (m *Monitor) Run(ctx context.Context) error {
	return controller.Loop{
		Queue: m.queue, Workers: m.cfg.Workers, Log: m.cfg.Log, Reconcile: m.work,
		// Nothing is written before the entries are known: a pod's
		// deployment that has not been listed yet would look like one that
		// is gone.
		Gate:     m.listed,
		Sources:  []controller.Source{m.watchDeployments, m.part.Watch},
		Recovery: m.recovery,
	}.Run(ctx)
}

func (m *Monitor) watchDeployments(ctx context.Context) error {
	if err := m.cfg.Store.WatchDeployments(ctx, configdb.DeploymentWatch{OnResync: m.onResync, OnEvent: m.onEvent}); err != nil {
		return fmt.Errorf("watch deployments: %w", err)
	}
	return nil
}

func (m *Monitor) onResync(list configdb.DeploymentList, reason string) {
	known := make(map[string]bool, len(list.Deployments))
	for _, d := range list.Deployments {
		if d.IsHelm() {
			known[d.ID] = true
		}
	}
	// Entries that do not decode still exist: their pods are reported, so
	// that a script sees them while the entry is fixed.
	for _, e := range list.Errors {
		if e.ID != "" {
			known[e.ID] = true
		}
	}
	m.mu.Lock()
	previous := m.known
	m.known = known
	m.part.UnwriteAll()
	for id := range previous {
		if !known[id] {
			m.markOrphan(id)
		}
	}
	m.mu.Unlock()
	for id := range known {
		m.queue.Add(id)
	}
	for id := range previous {
		m.queue.Add(id)
	}
	m.queue.Add(sweepKey)
	m.listed.Open()
	m.cfg.Log.Info("deployments listed", "reason", reason, "helm_deployments", len(known), "revision", list.Revision)
}

// markOrphan notes that id may have a state entry to remove. m.mu is held.
func (m *Monitor) markOrphan(id string) {
	m.orphaned++
	m.orphans[id] = m.orphaned
}

func (m *Monitor) onEvent(ev configdb.DeploymentEvent) {
	if ev.ID == "" {
		return
	}
	m.mu.Lock()
	exists := !ev.Deleted && (ev.Err != nil || ev.Deployment.IsHelm())
	if exists {
		m.known[ev.ID] = true
	} else {
		delete(m.known, ev.ID)
		m.markOrphan(ev.ID)
	}
	m.mu.Unlock()
	m.part.Unwrite(ev.ID)
	m.queue.Add(ev.ID)
}

// sweep finds the state entries of deployments that are not known and
// queues them for removal.
func (m *Monitor) sweep(ctx context.Context) error {
	ids, _, err := m.cfg.Store.StateIDs(ctx)
	if err != nil {
		return fmt.Errorf("orphan sweep: %w", err)
	}
	var found []string
	m.mu.Lock()
	for _, id := range ids {
		if !m.known[id] {
			m.markOrphan(id)
			found = append(found, id)
		}
	}
	m.mu.Unlock()
	for _, id := range found {
		m.queue.Add(id)
	}
	return nil
}

// work is a worker's reconcile within the term (controller.InTerm).
func (m *Monitor) work(ctx context.Context, id string) error {
	return controller.InTerm(m.cfg.Term.Over, m.reconcile)(ctx, id)
}

func (m *Monitor) reconcile(ctx context.Context, id string) error {
	if id == sweepKey {
		return m.sweep(ctx)
	}
	m.mu.Lock()
	known := m.known[id]
	mark, orphan := m.orphans[id]
	since, pendingSince := m.since[id]
	delete(m.since, id)
	m.mu.Unlock()
	if !known {
		m.part.Forget(id)
		// No entry (or not a helm one): no pods map to keep, and a state
		// entry left behind is garbage.
		if !orphan {
			return nil
		}
		deleted, err := m.cfg.Store.DeleteOrphanState(ctx, id)
		if err != nil {
			return err
		}
		m.mu.Lock()
		if m.orphans[id] == mark { // not marked again meanwhile
			delete(m.orphans, id)
		}
		m.mu.Unlock()
		if deleted {
			m.metrics.orphans.Inc()
			m.cfg.Log.Info("orphan state entry removed", "deployment", id)
		}
		return nil
	}
	report, err := m.cfg.Pods.Pods(id)
	if err != nil {
		return err
	}
	m.part.Intend(id, report)
	last, haveLast := m.part.Written(id)
	// A reason that changes while the pods map does not (an image pull
	// error becoming a back-off) is a write of its own; the same reason
	// again is none.
	if haveLast && last.Equal(report) {
		m.metrics.writes.WithLabelValues("unchanged").Inc()
		return nil
	}
	start := time.Now()
	res, err := m.cfg.Store.UpdatePodReport(ctx, id, func(configdb.PodReport) configdb.PodReport { return report })
	m.metrics.writeTime.Observe(time.Since(start).Seconds())
	m.metrics.conflicts.Add(float64(res.Conflicts))
	switch {
	case errors.Is(err, configdb.ErrNoDeployment):
		// Deleted meanwhile; its delete event brings the cleanup.
		m.metrics.writes.WithLabelValues("no-deployment").Inc()
		return nil
	case errors.Is(err, configdb.ErrBadState):
		m.metrics.writes.WithLabelValues("error").Inc()
		m.cfg.Log.Warn("state entry unreadable; not overwriting it", "deployment", id, "error", err)
		return controller.Permanent(err)
	case err != nil:
		m.metrics.writes.WithLabelValues("error").Inc()
		if pendingSince {
			m.mu.Lock()
			if _, again := m.since[id]; !again {
				m.since[id] = since
			}
			m.mu.Unlock()
		}
		return err
	}
	m.part.SetWritten(id, report)
	if !res.Written {
		m.metrics.writes.WithLabelValues("unchanged").Inc()
		return nil
	}
	m.metrics.writes.WithLabelValues("written").Inc()
	if pendingSince {
		m.metrics.latency.Observe(time.Since(since).Seconds())
	}
	m.cfg.Log.Debug("pods written", "deployment", id, "pods", len(report.Pods), "reasons", len(report.Reasons))
	return nil
}
