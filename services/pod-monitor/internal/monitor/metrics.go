package monitor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

const namespace, subsystem = "sdp_helmdeploy", "pod_monitor"

// Metrics of the pod-monitor, registered once per process.
type Metrics struct {
	writes    *prometheus.CounterVec
	conflicts prometheus.Counter
	orphans   prometheus.Counter
	ignored   *prometheus.CounterVec
	latency   prometheus.Histogram
	writeTime prometheus.Histogram
}

// NewMetrics registers the metrics on reg; counts gives pods by status.
func NewMetrics(reg prometheus.Registerer, counts func() map[configdb.PodStatus]int) *Metrics {
	m := &Metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "state_writes_total",
			Help: "Reconciles of a deployment's pods map, by result (written, unchanged, no-deployment, error)."}, []string{"result"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "state_write_conflicts_total",
			Help: "Compare-and-swap attempts on state entries lost to another writer and retried."}),
		orphans: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "orphan_states_removed_total",
			Help: "State entries removed because their deployment entry was gone."}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "ignored_pods_total",
			Help: "Pods seen (added or relabelled) that belong to no deployment, by reason (no-release-label, other-prefix, invalid-id)."}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: subsystem, Name: "event_to_write_seconds",
			Help:    "Time from the first unwritten pod change of a deployment to the write of its pods map.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		writeTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: subsystem, Name: "state_write_duration_seconds",
			Help:    "Time of one write of a deployment's pods map (read, compare-and-swap, retries on conflict).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
	}
	pods := prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, "pods"),
		"Pods of deployments in the processing namespace, by status.", []string{"status"}, nil)
	reg.MustRegister(m.writes, m.conflicts, m.orphans, m.ignored, m.latency, m.writeTime, collector{desc: pods, counts: counts})
	return m
}

// collector reports pods by status from the cache at scrape time, so a
// gone pod leaves the figures by itself.
type collector struct {
	desc   *prometheus.Desc
	counts func() map[configdb.PodStatus]int
}

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counts := c.counts()
	for _, s := range configdb.PodStatuses {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
