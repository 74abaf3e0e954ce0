package monitor

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Every metric of the pod-monitor, each with a series (a vector with no
// child is not gathered, so it would escape the lint), passes promlint, and
// the names the Grafana dashboard (deploy/grafana) queries are there.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, func() map[configdb.PodStatus]int { return map[configdb.PodStatus]int{configdb.PodRunning: 3} })
	m.writes.WithLabelValues("written").Inc()
	m.conflicts.Inc()
	m.orphans.Inc()
	m.ignored.WithLabelValues("other-prefix").Inc()
	m.latency.Observe(0.01)
	m.writeTime.Observe(0.002)

	servicetest.LintMetrics(t, reg,
		"sdp_helmdeploy_pod_monitor_pods",
		"sdp_helmdeploy_pod_monitor_state_writes_total",
		"sdp_helmdeploy_pod_monitor_state_write_duration_seconds",
		"sdp_helmdeploy_pod_monitor_event_to_write_seconds",
		"sdp_helmdeploy_pod_monitor_state_write_conflicts_total",
	)
	// Every status is reported, at 0 when no pod has it, so that a panel
	// by status shows all of them.
	if n := testutil.CollectAndCount(collector{desc: prometheus.NewDesc("x", "x", []string{"status"}, nil), counts: func() map[configdb.PodStatus]int { return nil }}); n != len(configdb.PodStatuses) {
		t.Errorf("%d pod status series with no pods, want %d", n, len(configdb.PodStatuses))
	}
}
