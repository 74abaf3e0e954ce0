package e2e

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
)

// pauseLeader freezes the leading replica of service with SIGSTOP for
// twice its lease (longer, up to four leases, if the other replica has not
// led by then: a raft leader change in the config DB renews every lease),
// while the other takes over, then resumes it with SIGCONT and reads its
// fence metrics once it has noticed. What it did after its term is proved
// at the end of the run (provePauses).
func (r *chaosRun) pauseLeader(ctx context.Context, service string) (faultOutcome, error) {
	sys := r.sys
	ttl := r.o.LeaderTTL[service]
	if ttl <= 0 {
		return faultOutcome{}, fmt.Errorf("no leader TTL for %s", service)
	}
	// The leader as etcd has it (the oldest election key), confirmed by
	// that replica's leader gauge: a gauge alone may read 1 for a while
	// after its replica's term ended, until its work has wound down.
	var leader *Replica
	var term Term
	err := eventually.Poll(ctx, time.Minute, 20*time.Millisecond, func(context.Context) error {
		cur, ok := r.terms.Current(service)
		if !ok {
			return fmt.Errorf("no term of %s in the election keys", service)
		}
		for _, rep := range sys.Replicas[service] {
			if rep.Name == cur.Identity && !rep.Proc().Exited() && rep.Leading() {
				leader, term = rep, cur
				return nil
			}
		}
		return fmt.Errorf("the election keys of %s say %s leads; its leader gauge does not read 1", service, cur.Identity)
	})
	if err != nil {
		return faultOutcome{}, err
	}
	p := leader.Proc()
	proof := &PauseProof{Service: service, Replica: leader.Name, PID: p.PID(), TTL: ttl, Term: term, MutatesKube: service == "release-manager"}
	out := faultOutcome{pause: proof}
	churnBefore := r.installsAndUpgrades.Load()
	p.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			p.Signal(syscall.SIGCONT)
			resumed = true
		}
	}
	defer resume()
	proof.Paused = stopped.Sub(r.t0)
	// The next term as etcd has it: a replica's leader gauge may still
	// read 1 for a while after its own term ended (until its work wound
	// down), so it does not say who leads.
	var next Term
	err = eventually.Poll(ctx, 4*ttl, 20*time.Millisecond, func(context.Context) error {
		cur, ok := r.terms.Current(service)
		if !ok || cur.Identity == leader.Name {
			return fmt.Errorf("no other replica's term has begun (current %q)", cur.Identity)
		}
		next = cur
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("%s frozen: %w", leader.Name, err)
	}
	proof.TakenOverBy, proof.TakeoverAfter = next.Identity, next.Start.Sub(stopped)
	out.failovers = []Failover{{Service: service, From: leader.Name, To: next.Identity, Took: proof.TakeoverAfter}}
	out.awayFrom, out.away = stopped, proof.TakeoverAfter
	time.Sleep(time.Until(stopped.Add(2 * ttl)))
	// The watch has seen the frozen term end (the other leads, so its key
	// is gone) before the resume.
	err = eventually.Poll(ctx, 10*time.Second, 20*time.Millisecond, func(context.Context) error {
		tm, ok := TermOf(r.terms.All(), service, leader.Name, stopped)
		if !ok || !tm.Ended() {
			return fmt.Errorf("the term of %s from revision %d has not ended in the election keys' watch", leader.Name, term.StartRev)
		}
		proof.Term = tm
		return nil
	})
	resume()
	resumedAt := time.Now()
	proof.Frozen = resumedAt.Sub(stopped)
	proof.ChurnWhilePaused = int(r.installsAndUpgrades.Load() - churnBefore)
	if err != nil {
		return out, err
	}
	proof.TermEndAfter = proof.Term.End.Sub(stopped)
	out.detail = fmt.Sprintf("froze leader %s (pid %d, SIGSTOP) for %v (lease %v) while %d creates and changes were written; its term ended at revision %d, seen %v after SIGSTOP, and %s's began",
		leader.Name, proof.PID, proof.Frozen.Round(time.Millisecond), ttl, proof.ChurnWhilePaused,
		proof.Term.EndRev, proof.TermEndAfter.Round(time.Millisecond), next.Identity)
	// Resumed, it must notice its term is over; then what it wrote (or was
	// refused) on waking is in its metrics.
	err = eventually.Poll(ctx, 30*time.Second, 50*time.Millisecond, func(context.Context) error {
		if leader.Proc() != p {
			return eventually.Stop(fmt.Errorf("%s was restarted", leader.Name))
		}
		if leader.Leading() {
			return fmt.Errorf("%s still says it leads", leader.Name)
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("after SIGCONT: %w", err)
	}
	proof.NoticedAfter = time.Since(resumedAt)
	time.Sleep(2 * time.Second)
	if rd, err := r.readFence(leader, proof.PID); err == nil {
		proof.Readings = append(proof.Readings, rd)
	}
	out.detail += fmt.Sprintf("; resumed (SIGCONT), its leader gauge read 0 after %v", proof.NoticedAfter.Round(time.Millisecond))
	return out, nil
}

// readFence scrapes a replica's fence metrics, if it still runs as pid.
func (r *chaosRun) readFence(rep *Replica, pid int) (FenceReading, error) {
	if p := rep.Proc(); p == nil || p.PID() != pid || p.Exited() {
		return FenceReading{}, fmt.Errorf("%s no longer runs as pid %d", rep.Name, pid)
	}
	addr := rep.Addr()
	if addr == "" {
		return FenceReading{}, fmt.Errorf("%s serves nothing", rep.Name)
	}
	f, err := metrics.Scrape("http://" + addr + "/metrics")
	if err != nil {
		return FenceReading{}, err
	}
	rd := ReadFence(f)
	rd.At, rd.PID = time.Since(r.t0), pid
	return rd, nil
}

// provePauses completes each paused leader's proof once the run has
// converged: whether it led again since, its mutating requests in the API
// server's audit log in its term and after it, and its fence metrics now
// (when the same process runs and has not led again since).
func (r *chaosRun) provePauses(res *ChaosResult) {
	pauses := res.Pauses
	if len(pauses) == 0 {
		return
	}
	terms := r.terms.All()
	for _, p := range pauses {
		if p.Term.Ended() {
			if next, ok := NextTerm(terms, p.Service, p.Replica, p.Term.End); ok {
				p.LedAgain = &next
				// A reading taken in its next term shows that term's writes.
				var kept []FenceReading
				for _, rd := range p.Readings {
					if r.t0.Add(rd.At).Before(next.Start) {
						kept = append(kept, rd)
					}
				}
				p.Readings = kept
			}
		}
	}
	now := time.Now()
	evs, err := r.sys.CP.ReadAuditLog(func(e *auditv1.Event) bool {
		if !Mutating(e) {
			return false
		}
		for _, p := range pauses {
			if ServiceUserAgent(e.UserAgent, p.Service) {
				return true
			}
		}
		return false
	})
	res.AuditEntries = len(evs)
	if paths, perr := r.sys.CP.AuditLogPaths(); perr == nil {
		for _, path := range paths {
			if st, serr := os.Stat(path); serr == nil {
				res.AuditBytes += st.Size()
			}
		}
	}
	for _, p := range pauses {
		if err != nil {
			p.AuditErr = err.Error()
		} else {
			until := now
			if p.LedAgain != nil {
				until = p.LedAgain.Start
			}
			p.AuditInTerm, p.AuditAfter, p.AfterSamples, p.ServiceAgents = AuditWindow(evs, p.Service, p.Replica, p.Term, until)
			var ids []string
			for _, rep := range r.sys.Replicas[p.Service] {
				ids = append(ids, rep.Name)
			}
			p.Identified = CountIdentified(evs, p.Service, ids)
			p.AuditChecked = true
		}
		if p.LedAgain != nil {
			continue
		}
		for _, rep := range r.sys.Replicas[p.Service] {
			if rep.Name == p.Replica {
				if rd, err := r.readFence(rep, p.PID); err == nil {
					p.Readings = append(p.Readings, rd)
				}
			}
		}
	}
}
