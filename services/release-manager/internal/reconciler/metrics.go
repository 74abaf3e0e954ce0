package reconciler

import (
	"github.com/prometheus/client_golang/prometheus"
)

const namespace, subsystem = "sdp_helmdeploy", "release_manager"

// Metrics of the release-manager, registered once per process. Release
// counts by status are computed from the release index at scrape time, so
// they never go stale.
type Metrics struct {
	reconciles       *prometheus.CounterVec
	reconcileSeconds prometheus.Histogram
	actions          *prometheus.CounterVec
	actionSeconds    *prometheus.HistogramVec
	entryErrors      *prometheus.CounterVec
	stateWrites      *prometheus.CounterVec
	stateWriteTime   prometheus.Histogram
	unownedReleases  prometheus.Gauge
	// Drift counts objects of releases found deleted or changed by someone
	// else, by kind, change and action; handed to the drift.Checker.
	Drift *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg; counts gives releases by status.
func NewMetrics(reg prometheus.Registerer, counts func() map[string]int) *Metrics {
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "reconciles_total",
			Help: "Reconciles of a deployment, by result (success, error, permanent)."}, []string{"result"}),
		reconcileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: subsystem, Name: "reconcile_duration_seconds",
			Help: "Time to reconcile one deployment, Helm actions included.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18)}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "helm_actions_total",
			Help: "Helm actions run, by action (install, upgrade, uninstall, unlock, adopt) and result (success, error)."}, []string{"action", "result"}),
		actionSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: subsystem, Name: "helm_action_duration_seconds",
			Help: "Duration of Helm actions, by action.",
			// 1 ms to 524 s: past the default Helm timeout (300 s), so an
			// action that runs into it lands in a bucket of its own rather
			// than in +Inf with everything over half a minute.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20)}, []string{"action"}),
		entryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "deployment_errors_total",
			Help: "Deployments that could not be deployed, by reason (bad-entry, release-name, chart, confinement, helm, gave-up)."}, []string{"reason"}),
		stateWrites: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "state_writes_total",
			Help: "Writes of the release part of state entries, by result (written, unchanged, no-deployment, error)."}, []string{"result"}),
		stateWriteTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: subsystem, Name: "state_write_duration_seconds",
			Help: "Time of one write of the release part of a state entry (read, compare-and-swap, retries on conflict).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		Drift: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "drift_total",
			Help: "Objects of releases found deleted or changed by someone else, by kind, change (deleted, changed) and action (corrected, warned, failed)."},
			[]string{"kind", "change", "action"}),
		unownedReleases: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: subsystem, Name: "unowned_releases",
			Help: "Helm releases in the namespace without this deployer's label and with no helm entry (kept unless --uninstall-unowned)."}),
	}
	// Every series from the start, at 0, so that rates, dashboards and
	// alerts see them before the first event (an error that never happened
	// is a 0, not a missing series).
	for _, r := range []string{"success", "error", "permanent"} {
		m.reconciles.WithLabelValues(r)
	}
	for _, a := range []string{"install", "upgrade", "uninstall", "unlock", "adopt"} {
		m.actionSeconds.WithLabelValues(a)
		m.actions.WithLabelValues(a, "success")
		m.actions.WithLabelValues(a, "error")
	}
	for _, r := range []string{"bad-entry", "release-name", "chart", "confinement", "helm", "gave-up"} {
		m.entryErrors.WithLabelValues(r)
	}
	for _, r := range []string{"written", "unchanged", "no-deployment", "error"} {
		m.stateWrites.WithLabelValues(r)
	}
	// The kinds charts make most; others appear with their first event.
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet", "Service", "ConfigMap", "Secret"} {
		for _, change := range []string{"deleted", "changed"} {
			for _, action := range []string{"corrected", "warned", "failed"} {
				m.Drift.WithLabelValues(kind, change, action)
			}
		}
	}
	releases := prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, "releases"),
		"Owned Helm releases by the status of their latest revision.", []string{"status"}, nil)
	reg.MustRegister(m.reconciles, m.reconcileSeconds, m.actions, m.actionSeconds, m.entryErrors, m.stateWrites, m.stateWriteTime, m.unownedReleases, m.Drift,
		collectorFunc{desc: releases, collect: func(ch chan<- prometheus.Metric) {
			for status, n := range counts() {
				ch <- prometheus.MustNewConstMetric(releases, prometheus.GaugeValue, float64(n), status)
			}
		}})
	return m
}

type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
