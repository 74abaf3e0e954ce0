package e2e

import (
	"strings"
	"testing"
	"time"
)

// The report has a row per paused leader with the figures of the proof,
// and names what the proof could not show.
func TestReportPauses(t *testing.T) {
	s := time.Second
	ok := &PauseProof{Service: "release-manager", Replica: "release-manager-0", PID: 42, TTL: 10 * s, Paused: 30 * s, Frozen: 20 * s, ChurnWhilePaused: 57,
		MutatesKube: true, TakenOverBy: "release-manager-1", TakeoverAfter: 10500 * time.Millisecond, TermEndAfter: 10400 * time.Millisecond,
		Term: Term{StartRev: 100, EndRev: 2345}, AuditChecked: true, AuditInTerm: 310, Identified: 600,
		Readings: []FenceReading{{HasLastWrite: true, LastWriteRev: 2300, Fenced: map[string]float64{"state_write": 1}}}}
	bad := &PauseProof{Service: "pod-monitor", Replica: "pod-monitor-1", PID: 43, TTL: 10 * s, Paused: 70 * s, Frozen: 20 * s,
		TakenOverBy: "pod-monitor-0", TakeoverAfter: 9 * s, Term: Term{StartRev: 100, EndRev: 3000}, AuditChecked: true,
		Readings: []FenceReading{{}}}
	r := Report{Opts: ChaosOptions{LeaderTTL: map[string]time.Duration{"release-manager": 10 * s, "pod-monitor": 10 * s, "resource-monitor": 10 * s}},
		Chaos: &ChaosResult{Pauses: []*PauseProof{ok, bad}, ConvergeTook: 22 * s, DeployerConvergeTook: 12 * s,
			ConvergeSteps: []ConvergeStep{{At: 0, Left: map[string]int{"orphan pod": 3, "stale state": 1}}, {At: 12 * s, Left: map[string]int{"orphan pod": 2}}, {At: 22 * s, Left: map[string]int{}}}}}
	md := string(r.Markdown())
	for _, want := range []string{
		"lease TTL 10s",
		"| release-manager | release-manager-0 (pid 42) | +30.0s | 20s (lease 10s) | 57 | release-manager-1 after 10.5s | revision 2345, seen 10.4s after SIGSTOP | 310 / **0** | revision 2300 | state_write=1 | holds |",
		"| pod-monitor | pod-monitor-1 (pid 43) | +70.0s | 20s (lease 10s) | 0 | pod-monitor-0 after 9s | revision 3000, seen 0s after SIGSTOP | 0 / **0** (changes nothing in the cluster) | not served | none | **1 problems** |",
		"- pod-monitor replica pod-monitor-1: serves no sdp_helmdeploy_config_db_last_write_revision",
		"converged 12s after the last fault ended** (target 10s, limit 20s, **over the target**)",
		"**Converged 22s after the last fault ended",
		"  - +12s: left 2 orphan pod\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
