package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// metricsProvider exposes client-go's work-queue metrics through
// Prometheus, with the queue's name as a label, as controller-runtime does.
type metricsProvider struct {
	depth          *prometheus.GaugeVec
	adds           *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	workDuration   *prometheus.HistogramVec
	unfinished     *prometheus.GaugeVec
	longestRunning *prometheus.GaugeVec
	retries        *prometheus.CounterVec
}

const queueSubsystem = "workqueue"

func newMetricsProvider(reg prometheus.Registerer) *metricsProvider {
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 16)
	labels := []string{"name"}
	p := &metricsProvider{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sdp_helmdeploy", Subsystem: queueSubsystem, Name: "depth",
			Help: "Current depth of the work queue."}, labels),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sdp_helmdeploy", Subsystem: queueSubsystem, Name: "adds_total",
			Help: "Total number of keys added to the work queue."}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "sdp_helmdeploy", Subsystem: queueSubsystem, Name: "queue_duration_seconds",
			Help: "How long a key waits in the work queue before it is processed.", Buckets: buckets}, labels),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "sdp_helmdeploy", Subsystem: queueSubsystem, Name: "work_duration_seconds",
			Help: "How long processing a key takes.", Buckets: buckets}, labels),
		unfinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sdp_helmdeploy", Subsystem: queueSubsystem, Name: "unfinished_work_seconds",
			Help: "Seconds of work in progress not yet observed by work_duration_seconds."}, labels),
		longestRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sdp_helmdeploy", Subsystem: queueSubsystem, Name: "longest_running_processor_seconds",
			Help: "Seconds the longest-running worker has been processing its key."}, labels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sdp_helmdeploy", Subsystem: queueSubsystem, Name: "retries_total",
			Help: "Total number of retries (rate-limited re-adds) handled by the work queue."}, labels),
	}
	if reg != nil {
		// A second queue on the same registry shares the vectors, told
		// apart by the name label.
		p.depth = register(reg, p.depth)
		p.adds = register(reg, p.adds)
		p.latency = register(reg, p.latency)
		p.workDuration = register(reg, p.workDuration)
		p.unfinished = register(reg, p.unfinished)
		p.longestRunning = register(reg, p.longestRunning)
		p.retries = register(reg, p.retries)
	}
	return p
}

func (p *metricsProvider) NewDepthMetric(name string) workqueue.GaugeMetric {
	return p.depth.WithLabelValues(name)
}
func (p *metricsProvider) NewAddsMetric(name string) workqueue.CounterMetric {
	return p.adds.WithLabelValues(name)
}
func (p *metricsProvider) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return p.latency.WithLabelValues(name)
}
func (p *metricsProvider) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return p.workDuration.WithLabelValues(name)
}
func (p *metricsProvider) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.unfinished.WithLabelValues(name)
}
func (p *metricsProvider) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.longestRunning.WithLabelValues(name)
}
func (p *metricsProvider) NewRetriesMetric(name string) workqueue.CounterMetric {
	return p.retries.WithLabelValues(name)
}

// register registers c, or returns the collector already registered under
// its name.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
