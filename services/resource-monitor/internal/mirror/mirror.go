// Package mirror keeps the resource-monitor's /resource/ entries equal to
// what the labelled NADs call for. It is level-triggered: a reconcile
// computes the whole desired set of owned entries from the informer cache,
// compares it with a view of the owned entries in the config DB, and writes
// or deletes only the differences. NAD events only say when to look again.
//
// It is the resource-monitor's controller, the only writer of /resource/:
// docs/architecture.md, §3. Who owns which key; which NADs it mirrors: docs/architecture.md, §4. From an entry to a release and a state.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/cniconfig"
	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/resources"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
)

// key is the one work-queue key. Every reconcile recomputes the whole
// desired set, because a supernet's entry depends on all its members and a
// NAD relabelled from one supernet to another changes both: per-supernet
// keys would have to remember a NAD's previous supernet to get that right,
// and stale entries (of supernets no NAD names any more) have no key at
// all. Recomputing a few hundred NADs from memory takes well under a
// millisecond (see docs/benchmarks/resource-monitor.md); a burst of NAD
// changes waits in the queue as this one key and becomes one reconcile.
const key = "all"

// NADs is the NAD cache as the mirror uses it.
type NADs interface {
	List() []nadcache.NAD
	NotSelected() []nadcache.NAD
}

// Term is the term of leadership the mirror writes in (leader.Term).
type Term interface {
	// Over ends the term if err says it is over (a write fenced out), and
	// reports whether it did: the work is then dropped, not retried.
	Over(err error) bool
}

// Config is what a Mirror works with.
type Config struct {
	// Store's writes carry the term's fence (configdb.Store.Fenced).
	Store *configdb.Store
	// Term, if set, is the term the Store is fenced by.
	Term Term
	NADs NADs
	Log  *slog.Logger
	// Resync is how often the owned entries are re-read from the config
	// DB, to repair what was changed there behind the service's back (0:
	// never). Between re-reads the mirror trusts its own view, so that a
	// NAD change costs only its writes, and idle costs nothing.
	Resync time.Duration
	// Timeout bounds the config DB calls of one reconcile (default 10s):
	// with etcd away they would otherwise wait for it, and the failure
	// would be neither logged nor counted.
	Timeout time.Duration
	// Writers bounds the writes of one reconcile that run in parallel.
	Writers int
}

// Mirror is the resource-monitor's controller, for one term of leadership.
type Mirror struct {
	cfg      Config
	queue    controller.Queue
	recovery *controller.Recovery
	metrics  *Metrics

	mu sync.Mutex
	// since is when the oldest NAD change not yet reconciled was seen.
	since time.Time

	stale atomic.Bool
	// inSync opens once a reconcile of the term has succeeded, for
	// readiness: until then the entries may not match the NADs.
	inSync *controller.Gate

	// The rest is touched only by reconcile, which the queue never runs
	// twice at once for one key.

	// view is the owned entries in the config DB as last read or written;
	// nil means unknown (at the start of a term, after a failed write, at
	// each resync), and it is read again before use. A nil value is an
	// entry that does not decode.
	view map[string]configdb.Resource
	// parsed holds each NAD's parse result until its resource version
	// changes, so that a bad config is reported once per version.
	parsed map[string]parseResult
	// supernetErrors are the supernet problems already reported.
	supernetErrors map[string]string
	// notSelected holds the label value of each NAD reported as not
	// selected, so that each NAD and value is reported once.
	notSelected map[string]string
}

type parseResult struct {
	resourceVersion string
	network         cniconfig.Network
	err             error
}

// New returns a Mirror for one term of leadership (its work queue ends
// with the term). Metrics come from NewMetrics, once per process; the
// queue's are registered on reg.
func New(cfg Config, m *Metrics, reg prometheus.Registerer) *Mirror {
	if cfg.Writers <= 0 {
		cfg.Writers = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Term == nil {
		cfg.Term = (*leader.Term)(nil)
	}
	c := &Mirror{
		cfg:            cfg,
		metrics:        m,
		parsed:         map[string]parseResult{},
		supernetErrors: map[string]string{},
		notSelected:    map[string]string{},
		inSync:         controller.NewGate("resource entries not reconciled yet in this term"),
	}
	c.queue, c.recovery = controller.NewConfigDBWork("resource-monitor", reg,
		controller.QueueOptions{BaseDelay: 50 * time.Millisecond, MaxDelay: 30 * time.Second}, cfg.Log, cfg.Store)
	return c
}

// EventHandler is the NAD informer's handler: any change is a reason to
// look again.
func (m *Mirror) EventHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(_ any, initial bool) {
			if initial {
				// The cache's contents replayed to a new handler: not a
				// change, so no latency to measure.
				m.queue.Add(key)
				return
			}
			m.changed()
		},
		UpdateFunc: func(any, any) { m.changed() },
		DeleteFunc: func(any) { m.changed() },
	}
}

// Ready reports whether a reconcile of this term has succeeded: the
// entries have matched the NADs at least once.
func (m *Mirror) Ready(ctx context.Context) error { return m.inSync.Ready(ctx) }

func (m *Mirror) changed() {
	m.mu.Lock()
	if m.since.IsZero() {
		m.since = time.Now()
	}
	m.mu.Unlock()
	m.queue.Add(key)
}

// Run reconciles until ctx ends. The NAD cache must be synced first: an
// unsynced cache would look like NADs that are gone, and their entries
// would be removed.
func (m *Mirror) Run(ctx context.Context) error {
	defer m.clearGauges()
	m.cfg.Log.Info("mirroring NetworkAttachmentDefinitions into /resource/", "selector", nadcache.Selector)
	// The first reconcile of a term reads the config DB afresh: entries
	// left by a previous term, or a crash, that no NAD backs go now.
	m.queue.Add(key)
	loop := controller.Loop{Queue: m.queue, Workers: 1, Log: m.cfg.Log, Reconcile: m.work, Recovery: m.recovery}
	if m.cfg.Resync > 0 {
		loop.Sources = append(loop.Sources, m.resync)
	}
	return loop.Run(ctx)
}

// resync has the owned entries re-read from the config DB every
// cfg.Resync; the term's first reconcile reads them anyway.
func (m *Mirror) resync(ctx context.Context) error {
	controller.Every(ctx, m.cfg.Resync, func(context.Context) {
		m.stale.Store(true)
		m.queue.Add(key)
	})
	return nil
}

func (m *Mirror) clearGauges() {
	for _, g := range []prometheus.Gauge{m.metrics.nads, m.metrics.supernets, m.metrics.nadsRejected, m.metrics.snRejected} {
		g.Set(0)
	}
}

// work is the worker's reconcile within the term (controller.InTerm).
func (m *Mirror) work(ctx context.Context, k string) error {
	return controller.InTerm(m.cfg.Term.Over, m.reconcile)(ctx, k)
}

func (m *Mirror) reconcile(ctx context.Context, _ string) error {
	m.mu.Lock()
	since := m.since
	m.since = time.Time{}
	m.mu.Unlock()

	m.reportNotSelected(m.cfg.NADs.NotSelected())
	nads, rejected := m.parse(m.cfg.NADs.List())
	want := resources.Build(nads)
	m.reportSupernets(want.SupernetErrors)

	written, removed, err := m.sync(ctx, want.Entries)
	if err != nil {
		if !since.IsZero() {
			m.mu.Lock()
			if m.since.IsZero() || since.Before(m.since) {
				m.since = since
			}
			m.mu.Unlock()
		}
		return err
	}
	m.metrics.nads.Set(float64(want.Networks))
	m.metrics.supernets.Set(float64(want.Supernets))
	m.metrics.nadsRejected.Set(float64(rejected))
	m.metrics.snRejected.Set(float64(len(want.SupernetErrors)))
	if written+removed > 0 && !since.IsZero() {
		m.metrics.latency.Observe(time.Since(since).Seconds())
	}
	if m.inSync.Open() {
		m.cfg.Log.Info("resource entries in sync", "nads", want.Networks, "supernets", want.Supernets, "nads_rejected", rejected,
			"written", written, "removed", removed)
	}
	return nil
}

// sync makes the owned entries in the config DB equal to want and returns
// how many it wrote and removed.
func (m *Mirror) sync(ctx context.Context, want map[string]configdb.Resource) (written, removed int, err error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	if m.stale.Swap(false) {
		m.view = nil
	}
	if m.view == nil {
		list, err := m.cfg.Store.ListResources(ctx)
		if err != nil {
			m.metrics.dbErrors.WithLabelValues("list").Inc()
			return 0, 0, fmt.Errorf("read owned /resource/ entries: %w", err)
		}
		view := make(map[string]configdb.Resource, len(list.Resources)+len(list.Undecodable))
		for id, r := range list.Resources {
			view[id] = r
		}
		for _, id := range list.Undecodable {
			m.cfg.Log.Warn("owned resource entry does not decode; it will be rewritten or removed", "entry", id)
			view[id] = nil
		}
		m.view = view
	}
	put, del := resources.Diff(want, m.view)
	if len(put)+len(del) == 0 {
		return 0, 0, nil
	}
	// Writes go in parallel: a NAD change usually touches its own entry
	// and its supernet's, and each write is an etcd round trip.
	type result struct {
		id      string
		r       configdb.Resource // nil for a delete
		changed bool
		err     error
	}
	results := make([]result, len(put)+len(del))
	var g errgroup.Group
	g.SetLimit(m.cfg.Writers)
	for i, r := range put {
		g.Go(func() error {
			changed, err := m.cfg.Store.PutResource(ctx, r)
			results[i] = result{id: r.ID(), r: r, changed: changed, err: err}
			return nil
		})
	}
	for i, id := range del {
		g.Go(func() error {
			changed, err := m.cfg.Store.DeleteResource(ctx, id)
			results[len(put)+i] = result{id: id, changed: changed, err: err}
			return nil
		})
	}
	_ = g.Wait()
	var errs []error
	for _, res := range results {
		op := "put"
		if res.r == nil {
			op = "delete"
		}
		if res.err != nil {
			m.metrics.dbErrors.WithLabelValues(op).Inc()
			errs = append(errs, res.err)
			continue
		}
		if res.r == nil {
			delete(m.view, res.id)
		} else {
			m.view[res.id] = res.r
		}
		if !res.changed {
			continue
		}
		m.metrics.writes.WithLabelValues(kindOf(res.id), op).Inc()
		if op == "put" {
			written++
			m.cfg.Log.Info("resource entry written", "entry", res.id)
		} else {
			removed++
			m.cfg.Log.Info("resource entry removed", "entry", res.id)
		}
	}
	if len(errs) > 0 {
		// What the config DB holds is uncertain now (a write may have
		// raced another writer): read it again on the retry.
		m.view = nil
		return written, removed, fmt.Errorf("mirror NADs into /resource/: %w", errors.Join(errs...))
	}
	return written, removed, nil
}

func kindOf(id string) string {
	if strings.HasPrefix(id, configdb.SupernetResourceID("")) {
		return "supernet"
	}
	return "network"
}
