package mirror

import (
	"github.com/prometheus/client_golang/prometheus"
)

const namespace, subsystem = "sdp_helmdeploy", "resource_monitor"

// Metrics of the resource-monitor, registered once per process.
type Metrics struct {
	nads, supernets          prometheus.Gauge
	nadsRejected, snRejected prometheus.Gauge
	parseErrors              *prometheus.CounterVec
	writes                   *prometheus.CounterVec
	dbErrors                 *prometheus.CounterVec
	latency                  prometheus.Histogram
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help})
	}
	m := &Metrics{
		nads:         gauge("nads_mirrored", "Labelled NADs that have their resource entry, as of the last reconcile of this replica's term (0 when not leading)."),
		supernets:    gauge("supernets_mirrored", "Supernets that have their resource entry, as of the last reconcile of this replica's term (0 when not leading)."),
		nadsRejected: gauge("nads_rejected", "Labelled NADs that get no resource entry because their CNI config is unusable."),
		snRejected:   gauge("supernets_rejected", "Supernets that get no resource entry because no one CIDR covers their members (IPv4 and IPv6 mixed)."),
		parseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "parse_errors_total",
			Help: "NAD configs rejected, once per version of the NAD, by reason (invalid-json, invalid-config, no-subnet)."}, []string{"reason"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "writes_total",
			Help: "Changes made to resource entries in the config DB, by entry kind (network, supernet) and operation (put, delete)."}, []string{"kind", "op"}),
		dbErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: subsystem, Name: "config_db_errors_total",
			Help: "Failed reads and writes of resource entries, by operation (list, put, delete); the reconcile is retried."}, []string{"op"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: subsystem, Name: "event_to_write_seconds",
			Help:    "Time from the first NAD change not yet mirrored to the end of the reconcile that wrote it.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
	}
	// Every series from the start, at 0, so that rates and alerts work
	// before the first event.
	for _, r := range []string{"invalid-json", "invalid-config", "no-subnet"} {
		m.parseErrors.WithLabelValues(r)
	}
	for _, op := range []string{"put", "delete"} {
		m.writes.WithLabelValues("network", op)
		m.writes.WithLabelValues("supernet", op)
		m.dbErrors.WithLabelValues(op)
	}
	m.dbErrors.WithLabelValues("list")
	reg.MustRegister(m.nads, m.supernets, m.nadsRejected, m.snRejected, m.parseErrors, m.writes, m.dbErrors, m.latency)
	return m
}
