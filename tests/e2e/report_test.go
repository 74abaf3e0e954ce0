package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/ska-telescope/sdp-helmdeploy/tests/e2e/chaos"
	"github.com/ska-telescope/sdp-helmdeploy/tests/observability"
)

// The report names what the dashboard check found and, for the chaos run,
// which alerts fired, when and after which fault, which must have fired
// and did not, and whether all were quiet at the end.
func TestReportObservability(t *testing.T) {
	s := time.Second
	stop := FaultRecord{Fault: chaos.Fault{Kind: chaos.StopAPIServer}, Start: 10 * s, Took: 40 * s, AwayFrom: 20 * s, Away: 30 * s}
	fired := Firing{Alert: "SdpHelmdeployKubeAPIUnreachable", Labels: model.LabelSet{"job": "pod-monitor"}, From: 16 * s, To: 52 * s, Instances: 2}
	r := Report{
		Chaos: &ChaosResult{Faults: []FaultRecord{stop}},
		Dashboard: []DashboardCheck{{When: "the happy path", Over: "over its 3s, every 1s", Path: "/x/broken.json", Queries: 27,
			Problems: []observability.Problem{{Query: observability.Query{Panel: "Pods by status", RefID: "A", Expr: "sum(sdp_helmdeploy_pod_monitor_pod)"}, Err: "no series"}}}},
		Alerts: &AlertsReport{
			Scale: DefaultRuleScale, AllAlerts: []string{"SdpHelmdeployKubeAPIUnreachable", "SdpHelmdeployNoLeader"},
			Fired: []Firing{fired},
			Expected: []Expected{
				{Alert: "SdpHelmdeployKubeAPIUnreachable", Job: "pod-monitor", Fault: stop, Fired: &fired, Seen: 16 * s},
				{Alert: "SdpHelmdeployKubeAPIUnreachable", Job: "release-manager", Fault: stop},
			},
			Err: "alert SdpHelmdeployKubeAPIUnreachable for release-manager did not fire",
		},
	}
	md := string(r.Markdown())
	for _, want := range []string{
		"| the happy path, over its 3s, every 1s | `/x/broken.json` | 27 | 1 |",
		"panel \"Pods by status\" query A: no series: `sum(sdp_helmdeploy_pod_monitor_pod)`",
		"| SdpHelmdeployKubeAPIUnreachable | job=pod-monitor | 2 | +16.0s | +52.0s | stop the kube-apiserver (+10.0s) +6.0s |",
		"Did not fire: SdpHelmdeployNoLeader.",
		"| SdpHelmdeployKubeAPIUnreachable | pod-monitor | stop the kube-apiserver (+10.0s) | 30.0s from +20.0s | +16.0s (6.0s after the fault began) |",
		"| SdpHelmdeployKubeAPIUnreachable | release-manager | stop the kube-apiserver (+10.0s) | 30.0s from +20.0s | **no** |",
		"**Alert check failed**: alert SdpHelmdeployKubeAPIUnreachable for release-manager did not fire",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "All alerts quiet") {
		t.Errorf("a failed alert check reported as quiet:\n%s", md)
	}
	r.Alerts.Err, r.Alerts.QuietAfter, r.Alerts.QuietBound = "", 2*s, time.Minute
	if md := string(r.Markdown()); !strings.Contains(md, "**All alerts quiet** (none pending or firing) 2.0s after convergence (bound 1m0s).") {
		t.Errorf("quiet run not reported as such:\n%s", md)
	}
}
