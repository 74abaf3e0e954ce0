package reconciler

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// Every metric of the release-manager, each with a series (a vector with no
// child is not gathered, so it would escape the lint), passes promlint, and
// the names the Grafana dashboard (deploy/grafana) queries are there.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, func() map[string]int { return map[string]int{"deployed": 2, "failed": 1} })
	m.reconciles.WithLabelValues("success").Inc()
	m.reconcileSeconds.Observe(0.1)
	m.actions.WithLabelValues("install", "success").Inc()
	m.actionSeconds.WithLabelValues("install").Observe(0.2)
	m.entryErrors.WithLabelValues("chart").Inc()
	m.stateWrites.WithLabelValues("written").Inc()
	m.stateWriteTime.Observe(0.003)
	m.Drift.WithLabelValues("Deployment", "deleted", "corrected").Inc()

	servicetest.LintMetrics(t, reg,
		"sdp_helmdeploy_release_manager_releases",
		"sdp_helmdeploy_release_manager_helm_actions_total",
		"sdp_helmdeploy_release_manager_helm_action_duration_seconds",
		"sdp_helmdeploy_release_manager_state_write_duration_seconds",
		"sdp_helmdeploy_release_manager_reconciles_total",
		"sdp_helmdeploy_release_manager_deployment_errors_total",
		"sdp_helmdeploy_release_manager_state_writes_total",
		"sdp_helmdeploy_release_manager_drift_total",
	)
}

// A Helm action that runs into the default Helm timeout (300 s) lands in a
// bucket of its own, not in +Inf with everything over half a minute.
func TestHelmActionBucketsReachTheTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, func() map[string]int { return nil })
	m.actionSeconds.WithLabelValues("install").Observe(299)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sdp_helmdeploy_release_manager_helm_action_duration_seconds" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			buckets := metric.GetHistogram().GetBucket()
			if metric.GetHistogram().GetSampleCount() == 0 {
				continue
			}
			last := buckets[len(buckets)-1]
			if last.GetUpperBound() < 300 || last.GetCumulativeCount() != 1 {
				t.Errorf("largest bucket ≤ %v holds %d of 1: a 299 s action is in +Inf only", last.GetUpperBound(), last.GetCumulativeCount())
			}
			return
		}
	}
	t.Fatal("no helm_action_duration_seconds observation gathered")
}
