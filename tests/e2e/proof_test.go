package e2e

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
)

func TestReplicaUserAgent(t *testing.T) {
	for _, tc := range []struct {
		ua, service, identity string
		service0, replica     bool
	}{
		{"release-manager/v1.2.3 (release-manager-0)", "release-manager", "release-manager-0", true, true},
		{"release-manager/v1.2.3 (release-manager-1)", "release-manager", "release-manager-0", true, false},
		{"release-manager/v1.2.3 (release-manager-10)", "release-manager", "release-manager-1", true, false},
		// client-go's default user agent names the binary and the platform.
		{"release-manager/v0.0.0 (linux/amd64) kubernetes/$Format", "release-manager", "release-manager-0", true, false},
		{"pod-monitor/v1 (release-manager-0)", "release-manager", "release-manager-0", false, false},
		{"kube-controller-manager/v1.37.2 (linux/amd64)", "release-manager", "release-manager-0", false, false},
	} {
		if got := ServiceUserAgent(tc.ua, tc.service); got != tc.service0 {
			t.Errorf("ServiceUserAgent(%q, %q) = %v", tc.ua, tc.service, got)
		}
		if got := ReplicaUserAgent(tc.ua, tc.service, tc.identity); got != tc.replica {
			t.Errorf("ReplicaUserAgent(%q, %q, %q) = %v", tc.ua, tc.service, tc.identity, got)
		}
	}
}

func TestAuditWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(ms int) metav1.MicroTime {
		return metav1.NewMicroTime(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	ev := func(ua, verb string, ms int) auditv1.Event {
		return auditv1.Event{UserAgent: ua, Verb: verb, RequestReceivedTimestamp: at(ms),
			ObjectRef: &auditv1.ObjectReference{Resource: "secrets", Namespace: "sdp", Name: "sh.helm.release.v1.x.v1"}}
	}
	const me, other = "release-manager/v1 (release-manager-0)", "release-manager/v1 (release-manager-1)"
	term := Term{Service: "release-manager", Identity: "release-manager-0", Start: t0, StartRev: 5, EndRev: 90, End: t0.Add(10 * time.Second)}
	evs := []auditv1.Event{
		ev(me, "create", 100), ev(me, "patch", 9000), ev(me, "get", 9500), // in its term (the get is no change)
		ev(other, "create", 11000),          // the next leader
		ev(me, "delete", 12000),             // after its term: the fence failed
		ev(me, "update", 30000),             // after it led again: its new term's
		ev("kwok/v0.8 (x)", "patch", 12000), // someone else
	}
	in, after, samples, agents := AuditWindow(evs, "release-manager", "release-manager-0", term, t0.Add(20*time.Second))
	if in != 2 || after != 1 {
		t.Errorf("in term %d, after %d; want 2 and 1", in, after)
	}
	if len(samples) != 1 || !strings.Contains(samples[0], "delete secrets sdp/sh.helm.release.v1.x.v1 at 10:00:12.000000") {
		t.Errorf("samples %q", samples)
	}
	if strings.Join(agents, "|") != me+"|"+other {
		t.Errorf("agents %q", agents)
	}
	// Unbounded: the update after it led again counts too.
	if _, after, _, _ := AuditWindow(evs, "release-manager", "release-manager-0", term, time.Time{}); after != 2 {
		t.Errorf("after, unbounded: %d, want 2", after)
	}
	// A term that has not ended has nothing after it.
	open := term
	open.EndRev, open.End = 0, time.Time{}
	if in, after, _, _ := AuditWindow(evs, "release-manager", "release-manager-0", open, time.Time{}); in != 4 || after != 0 {
		t.Errorf("open term: in %d after %d, want 4 and 0", in, after)
	}
}

func TestCountIdentified(t *testing.T) {
	evs := []auditv1.Event{
		{UserAgent: "release-manager/v1 (release-manager-0)", Verb: "create"},
		{UserAgent: "release-manager/v1 (release-manager-1)", Verb: "patch"},
		{UserAgent: "release-manager/v1 (release-manager-1)", Verb: "get"},
		{UserAgent: "release-manager/v1 (somebody)", Verb: "create"},
		{UserAgent: "release-manager/v0.0.0 (linux/amd64) kubernetes/$Format", Verb: "create"},
	}
	if n := CountIdentified(evs, "release-manager", []string{"release-manager-0", "release-manager-1"}); n != 2 {
		t.Errorf("CountIdentified = %d, want 2", n)
	}
}

func TestReadFence(t *testing.T) {
	f, err := metrics.ParseText(`# TYPE sdp_helmdeploy_config_db_last_write_revision gauge
sdp_helmdeploy_config_db_last_write_revision 1234
# TYPE sdp_helmdeploy_fenced_total counter
sdp_helmdeploy_fenced_total{what="helm"} 2
sdp_helmdeploy_fenced_total{what="state_write"} 3
`)
	if err != nil {
		t.Fatal(err)
	}
	r := ReadFence(f)
	if !r.HasLastWrite || r.LastWriteRev != 1234 {
		t.Errorf("last write %d %v, want 1234", r.LastWriteRev, r.HasLastWrite)
	}
	if got := FencedString(r.Fenced); got != "helm=2, state_write=3" {
		t.Errorf("fenced %q", got)
	}
	none, _ := metrics.ParseText("# TYPE sdp_helmdeploy_leader gauge\nsdp_helmdeploy_leader 0\n")
	if r := ReadFence(none); r.HasLastWrite || r.Fenced != nil || FencedString(r.Fenced) != "none" {
		t.Errorf("a page without the fence metrics: %+v", r)
	}
}

func TestPauseProblems(t *testing.T) {
	good := PauseProof{
		Service: "release-manager", Replica: "release-manager-0", MutatesKube: true, ChurnWhilePaused: 40,
		TakenOverBy: "release-manager-1", Frozen: 20 * time.Second,
		Term:         Term{Key: "k/a", StartRev: 5, EndRev: 90},
		AuditChecked: true, AuditInTerm: 12, Identified: 30,
		Readings: []FenceReading{{HasLastWrite: true, LastWriteRev: 80}, {HasLastWrite: true, LastWriteRev: 85, Fenced: map[string]float64{"helm": 1}}},
	}
	for _, tc := range []struct {
		name string
		edit func(*PauseProof)
		want []string
	}{
		{name: "holds", edit: func(*PauseProof) {}},
		{name: "a monitor that never changes the cluster", edit: func(p *PauseProof) {
			p.MutatesKube, p.AuditInTerm, p.Identified, p.ChurnWhilePaused = false, 0, 0, 0
		}},
		{name: "no request in its term, the user agent seen from the other", edit: func(p *PauseProof) { p.AuditInTerm = 0 }},
		{name: "no takeover", edit: func(p *PauseProof) { p.TakenOverBy = "" }, want: []string{"no other replica took over"}},
		{name: "no churn meanwhile", edit: func(p *PauseProof) { p.ChurnWhilePaused = 0 }, want: []string{"no churn written"}},
		{name: "term not ended", edit: func(p *PauseProof) { p.Term.EndRev = 0 }, want: []string{"had not ended"}},
		{name: "requests after its term", edit: func(p *PauseProof) { p.AuditAfter, p.AfterSamples = 2, []string{"create secrets x"} },
			want: []string{"2 mutating requests with its user agent received after its term ended (revision 90): create secrets x"}},
		{name: "user agent not sent", edit: func(p *PauseProof) {
			p.AuditInTerm, p.Identified, p.ServiceAgents = 0, 0, []string{"release-manager/v0.0.0 (linux/amd64) kubernetes/$Format"}
		}, want: []string{"cannot tell their requests apart", "`release-manager/v0.0.0 (linux/amd64) kubernetes/$Format`"}},
		{name: "audit log unread", edit: func(p *PauseProof) { p.AuditErr = "no such file" }, want: []string{"audit log: no such file"}},
		{name: "no fence metric", edit: func(p *PauseProof) {
			p.Readings = []FenceReading{{}, {}}
		}, want: []string{"serves no sdp_helmdeploy_config_db_last_write_revision"}},
		{name: "no reading", edit: func(p *PauseProof) { p.Readings = nil }, want: []string{"could not be read"}},
		{name: "wrote after its term", edit: func(p *PauseProof) {
			p.Readings = append(p.Readings, FenceReading{HasLastWrite: true, LastWriteRev: 90})
		}, want: []string{"last config DB write is at revision 90, not before its term ended at revision 90"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			p.Readings = append([]FenceReading(nil), good.Readings...)
			tc.edit(&p)
			got := p.Problems()
			if len(got) != min(len(tc.want), 1) {
				t.Fatalf("problems %q, want one with %q", got, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("problem %q does not say %q", got[0], w)
				}
			}
		})
	}
	if rev, _ := good.LastWrite(); rev != 85 {
		t.Errorf("LastWrite = %d, want the highest reading, 85", rev)
	}
	if got := FencedString(good.Fenced()); got != "helm=1" {
		t.Errorf("Fenced = %q, want the last reading's", got)
	}
}
