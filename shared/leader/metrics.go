package leader

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// What a term refused to do, as the label of the fenced_total counter.
const (
	FencedHelmAction    = "helm-action"
	FencedKubeWrite     = "kube-write"
	FencedConfigDBWrite = "config-db-write"
)

// Metrics are the fencing metrics of a process: what its terms refused to
// do, and the etcd revision of its last config DB write, which (compared
// with the revision that deleted its election key) shows that it wrote
// nothing after its term ended. It observes the config DB store's writes
// (configdb.WriteObserver). A nil *Metrics counts nothing.
type Metrics struct {
	fenced    *prometheus.CounterVec
	lastWrite atomic.Int64
}

// NewMetrics registers the fencing metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{fenced: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sdp_helmdeploy", Name: "fenced_total",
		Help: "Actions refused because this replica's term of leadership had ended, by what: helm-action, kube-write (a request of a Helm action), config-db-write.",
	}, []string{"what"})}
	for _, what := range []string{FencedHelmAction, FencedKubeWrite, FencedConfigDBWrite} {
		m.fenced.WithLabelValues(what)
	}
	reg.MustRegister(m.fenced, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "sdp_helmdeploy", Name: "config_db_last_write_revision",
		Help: "The etcd revision of this process's last committed config DB write (0: none yet).",
	}, func() float64 { return float64(m.lastWrite.Load()) }))
	return m
}

// Fenced counts one refusal.
func (m *Metrics) Fenced(what string) {
	if m != nil {
		m.fenced.WithLabelValues(what).Inc()
	}
}

// WriteCommitted records a config DB write committed at rev. Concurrent
// writes may report out of order; the highest revision is kept.
func (m *Metrics) WriteCommitted(rev int64) {
	if m == nil {
		return
	}
	for {
		cur := m.lastWrite.Load()
		if rev <= cur || m.lastWrite.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// WriteFenced counts a config DB write refused by its fence.
func (m *Metrics) WriteFenced() { m.Fenced(FencedConfigDBWrite) }
