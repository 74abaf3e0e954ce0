package e2e

import (
	"fmt"
	"sort"
	"strings"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
)

// The fence's metrics every replica serves: the etcd revision of its last
// committed config DB write, and the actions and writes its fence refused
// (by what).
const (
	LastWriteRevisionMetric = "sdp_helmdeploy_config_db_last_write_revision"
	FencedMetric            = "sdp_helmdeploy_fenced_total"
)

// mutatingVerbs are the audit verbs of requests that change something.
var mutatingVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}

// Mutating reports whether an audit event is of a request that changes
// something.
func Mutating(e *auditv1.Event) bool { return mutatingVerbs[e.Verb] }

// ServiceUserAgent reports whether an audit user agent is one of service's
// replicas': it begins "<service>/".
func ServiceUserAgent(ua, service string) bool { return strings.HasPrefix(ua, service+"/") }

// ReplicaUserAgent reports whether an audit user agent is the replica's:
// "<service>/<version> (<identity>)", as each replica's Kubernetes client
// sends it.
func ReplicaUserAgent(ua, service, identity string) bool {
	return ServiceUserAgent(ua, service) && strings.HasSuffix(ua, " ("+identity+")")
}

// FenceReading is what a replica's /metrics said of its config DB writes.
type FenceReading struct {
	// At is since the chaos run's start; PID the process read.
	At  time.Duration
	PID int
	// LastWriteRev is LastWriteRevisionMetric; HasLastWrite false when the
	// replica does not serve it.
	LastWriteRev int64
	HasLastWrite bool
	// Fenced is FencedMetric by its label what (absent until the fence
	// first refuses something).
	Fenced map[string]float64
}

// ReadFence reads a replica's fence metrics from a scrape.
func ReadFence(f metrics.Families) FenceReading {
	var r FenceReading
	if v, ok := f.Value(LastWriteRevisionMetric); ok {
		r.LastWriteRev, r.HasLastWrite = int64(v), true
	}
	if fam := f[FencedMetric]; fam != nil {
		r.Fenced = map[string]float64{}
		for _, m := range fam.GetMetric() {
			what := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "what" {
					what = l.GetValue()
				}
			}
			r.Fenced[what] += m.GetCounter().GetValue()
		}
	}
	return r
}

// FencedString renders fenced counts as what=n, sorted; "none" when empty.
func FencedString(m map[string]float64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%g", k, v))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// PauseProof is one paused leader, what it was doing and what it did after
// its term ended, from the API server's audit log and from etcd.
type PauseProof struct {
	Service, Replica string
	PID              int
	// TTL is the service's leadership lease.
	TTL time.Duration
	// Paused is when SIGSTOP was sent (since the chaos start); Frozen how
	// long until SIGCONT.
	Paused, Frozen time.Duration
	// ChurnWhilePaused counts the churn's creates and changes written while
	// it was frozen.
	ChurnWhilePaused int
	// TakenOverBy is the replica that led next, TakeoverAfter how long
	// after SIGSTOP the test saw its term begin in etcd.
	TakenOverBy   string
	TakeoverAfter time.Duration
	// Term is the frozen replica's term: its end (EndRev, R_end) is the
	// deletion of its election key when its lease expired.
	Term Term
	// TermEndAfter is from SIGSTOP until the test saw the term end.
	TermEndAfter time.Duration
	// NoticedAfter is from SIGCONT until its own leader gauge read 0.
	NoticedAfter time.Duration
	// LedAgain is the next term of the same replica, if it led again later.
	LedAgain *Term

	// MutatesKube: the service changes objects in the cluster (the
	// release-manager's Helm actions); the others only read it.
	MutatesKube bool
	// AuditInTerm and AuditAfter count the audit log's mutating requests
	// with the replica's user agent received in its term and after it
	// ended (until it led again, or the check); AfterSamples are some of
	// the latter. ServiceAgents are user agents of the service's replicas
	// seen in mutating requests, to say what the replicas sent when none
	// is the replica's.
	AuditInTerm, AuditAfter int
	AfterSamples            []string
	ServiceAgents           []string
	// Identified counts the mutating requests in the whole log with the
	// user agent of any of the service's replicas: none means the replicas
	// do not send it, and the log cannot tell them apart.
	Identified   int
	AuditChecked bool
	AuditErr     string

	// Readings of its fence metrics: soon after it noticed, and at the end
	// (when the same process was still running and had not led again).
	Readings []FenceReading
}

// AuditWindow counts, in evs, the mutating requests from the replica
// received in its term (term.Start, term.End] and after it ended (term.End,
// until] (until zero: no bound), and returns up to three samples of the
// latter and the service's user agents seen.
func AuditWindow(evs []auditv1.Event, service, identity string, term Term, until time.Time) (inTerm, after int, samples, agents []string) {
	seen := map[string]bool{}
	for i := range evs {
		e := &evs[i]
		if !Mutating(e) || !ServiceUserAgent(e.UserAgent, service) {
			continue
		}
		if !seen[e.UserAgent] {
			seen[e.UserAgent] = true
			agents = append(agents, e.UserAgent)
		}
		if !ReplicaUserAgent(e.UserAgent, service, identity) {
			continue
		}
		at := e.RequestReceivedTimestamp.Time
		switch {
		case at.After(term.Start) && (!term.Ended() || !at.After(term.End)):
			inTerm++
		case term.Ended() && at.After(term.End) && (until.IsZero() || at.Before(until)):
			after++
			if len(samples) < 3 {
				what := e.Verb
				if e.ObjectRef != nil {
					what += " " + e.ObjectRef.Resource + " " + e.ObjectRef.Namespace + "/" + e.ObjectRef.Name
				}
				samples = append(samples, fmt.Sprintf("%s at %s", what, at.UTC().Format("15:04:05.000000")))
			}
		}
	}
	sort.Strings(agents)
	return inTerm, after, samples, agents
}

// CountIdentified counts, in evs, the mutating requests with the user
// agent of one of identities, replicas of service.
func CountIdentified(evs []auditv1.Event, service string, identities []string) int {
	n := 0
	for i := range evs {
		if !Mutating(&evs[i]) {
			continue
		}
		for _, id := range identities {
			if ReplicaUserAgent(evs[i].UserAgent, service, id) {
				n++
				break
			}
		}
	}
	return n
}

// LastWrite is the highest last-write revision read, and false when no
// reading had the metric.
func (p PauseProof) LastWrite() (int64, bool) {
	var rev int64
	has := false
	for _, r := range p.Readings {
		if r.HasLastWrite {
			rev, has = max(rev, r.LastWriteRev), true
		}
	}
	return rev, has
}

// Fenced is the fence's refusals by what at the last reading.
func (p PauseProof) Fenced() map[string]float64 {
	if len(p.Readings) == 0 {
		return nil
	}
	return p.Readings[len(p.Readings)-1].Fenced
}

// Problems says what the proof could not show, each naming what is
// missing or what was done after the term; none when it holds: the other
// replica took over while the paused one was frozen (with churn under way,
// for a service that acts on it), its term ended then, and it made no
// mutating request and no config DB write after that.
func (p PauseProof) Problems() []string {
	var out []string
	who := p.Service + " replica " + p.Replica
	if p.TakenOverBy == "" {
		out = append(out, fmt.Sprintf("%s: no other replica took over while it was frozen for %v", who, p.Frozen.Round(time.Millisecond)))
	}
	if p.MutatesKube && p.ChurnWhilePaused == 0 {
		out = append(out, fmt.Sprintf("%s: no churn written while it was frozen: the pause met no burst of installs and upgrades", who))
	}
	if !p.Term.Ended() {
		out = append(out, fmt.Sprintf("%s: its term (election key %s) had not ended when it was resumed", who, p.Term.Key))
		return out
	}
	switch {
	case p.AuditErr != "":
		out = append(out, fmt.Sprintf("%s: audit log: %s", who, p.AuditErr))
	case !p.AuditChecked:
		out = append(out, fmt.Sprintf("%s: the audit log was not read", who))
	case p.AuditAfter > 0:
		out = append(out, fmt.Sprintf("%s: %d mutating requests with its user agent received after its term ended (revision %d): %s",
			who, p.AuditAfter, p.Term.EndRev, strings.Join(p.AfterSamples, "; ")))
	case p.MutatesKube && p.Identified == 0:
		agents := "none"
		if len(p.ServiceAgents) > 0 {
			agents = "`" + strings.Join(p.ServiceAgents, "`, `") + "`"
		}
		out = append(out, fmt.Sprintf("%s: no mutating request in the audit log with the user agent `%s/<version> (<identity>)` of any %s replica, so the log cannot tell their requests apart; "+
			"user agents of %s seen in mutating requests: %s (each replica's Kubernetes client, Helm's included, must send `<service>/<version> (<identity>)`)",
			who, p.Service, p.Service, p.Service, agents))
	}
	rev, has := p.LastWrite()
	switch {
	case len(p.Readings) == 0:
		out = append(out, fmt.Sprintf("%s: its metrics could not be read after it was resumed", who))
	case !has:
		out = append(out, fmt.Sprintf("%s: serves no %s, so etcd cannot show it wrote nothing after its term (the services' fence metrics are missing from this build)", who, LastWriteRevisionMetric))
	case rev >= p.Term.EndRev:
		out = append(out, fmt.Sprintf("%s: its last config DB write is at revision %d, not before its term ended at revision %d", who, rev, p.Term.EndRev))
	}
	return out
}
