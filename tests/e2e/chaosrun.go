package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/tests/e2e/chaos"
)

// ConvergeBound is the target: how soon after the last fault ended the
// deployer's part must have converged (ChaosResult.DeployerConvergeTook).
// A run reports it against its figure, and every run is recorded in the
// history the report sums up. It is not asserted: the worst case is a
// backlog of some 200 Helm actions left by faults that held the
// release-manager back while the churn went on, worked off by a leader
// just elected, which on a 2-core machine shared with the whole control
// plane comes within a few seconds of it; a suite that fails at random
// does not land.
const ConvergeBound = 10 * time.Second

// ConvergeLimit is what a run asserts: far enough above ConvergeBound not
// to fail on a loaded machine, and below the 24-52 s a run took when work
// waited out its backoff after a dependency came back, so that losing the
// recovery at once fails the run.
const ConvergeLimit = 20 * time.Second

// ChaosOptions size a chaos run.
type ChaosOptions struct {
	Seed        uint64
	Deployments int
	// Churn is about how long the churn's steps are spread over.
	Churn time.Duration
	// PDelete is the share of deployments deleted during the churn.
	PDelete float64
	// APIServerDown is how long the kube-apiserver is stopped;
	// APIServerPaused how long it is frozen.
	APIServerDown, APIServerPaused time.Duration
	// EtcdDown is how long the config DB's members stay stopped between
	// their exit and their start: pods rescheduled, longer than the
	// leadership lease.
	EtcdDown time.Duration
	// MemberDown is how long a killed config DB member stays down;
	// MemberCut how long one is cut off the services.
	MemberDown, MemberCut time.Duration
	// LeaderTTL is each service's leadership lease, as it runs: a paused
	// leader is frozen for twice that.
	LeaderTTL map[string]time.Duration
	// StopAPIServer stops the kube-apiserver and returns what starts it
	// again; PauseAPIServer freezes it and returns what resumes it.
	StopAPIServer  func() (start func(context.Context) error, err error)
	PauseAPIServer func() (resume func())
	// Converge bounds the wait for the system to settle after the churn
	// and the faults: how long the check goes on to say what is left
	// (ConvergeLimit is what a run must meet, ConvergeBound the target).
	Converge time.Duration
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// ChaosResult is what a chaos run did and measured.
type ChaosResult struct {
	// ConvergeSteps are what was left, by kind, each time it changed while
	// the system converged after the faults: what took longest.
	ConvergeSteps []ConvergeStep
	// DeployerConvergeTook is when, after the faults, only what the
	// cluster must clear was left (DeployerConverged): ConvergeBound
	// applies to it.
	DeployerConvergeTook time.Duration
	// Started is when the first churn step began: the chaos run's zero.
	Started     time.Time
	Seed        uint64
	Counts      chaos.Counts
	Deployments int
	// Alive is the number of deployment entries left at the end.
	Alive int
	// ChurnTook is from the first step to the last; FaultsTook from the
	// first step until the last fault ended.
	ChurnTook, FaultsTook time.Duration
	// WriteRetries counts script writes retried (the config DB was away).
	WriteRetries int
	Faults       []FaultRecord
	Failovers    []Failover
	// CompactedResyncs counts, per service, the logged resyncs after a
	// compacted watch: proof that the compaction fault hit.
	CompactedResyncs map[string]int
	// LostResyncs counts, per service, the logged resyncs after a lost
	// watch (connection cut, etcd restarted).
	LostResyncs map[string]int
	// ConvergeTook is from the end of churn and faults until the check
	// found nothing; Mismatches is what it found when it gave up.
	ConvergeTook time.Duration
	Mismatches   []string
	// AtFaultsEnd is what the check found at its first look, when the
	// faults had ended.
	AtFaultsEnd []string
	// GaveUp counts the release-manager's reconciles given up until the
	// entry changes: with only valid entries in the churn, each is a bug.
	GaveUp int
	// Unlocks counts releases found pending after a crash and unlocked;
	// FailedActions the Helm actions that failed (and were retried).
	Unlocks, FailedActions int
	// SinceLastWrite is from the last churn step until the check found
	// nothing (or gave up).
	SinceLastWrite time.Duration
	// Pauses are the paused leaders and the proof of what they did.
	Pauses []*PauseProof
	// TermGaps counts election key changes the test found by listing
	// again rather than seeing them in its watch.
	TermGaps int
	// AuditBytes is the size of the API server's audit log at the end;
	// AuditEntries the services' mutating requests in it.
	AuditBytes   int64
	AuditEntries int
}

// FaultRecord is one fault as it happened.
type FaultRecord struct {
	chaos.Fault
	// Start is since the first churn step; Took is how long the fault
	// lasted (until the system part was back).
	Start, Took time.Duration
	// AwayFrom (since the first churn step) and Away say when and how long
	// what the fault took away was surely gone: the config DB from etcd's
	// exit until healthy, the API server from gone until ready or while
	// frozen, a service's leader from the SIGKILL until the next one led.
	// Zero when the fault took nothing away for long.
	AwayFrom, Away time.Duration
	Detail         string
	Err            error
}

// Failover is a leader's death and the next leader taking over.
type Failover struct {
	Service, From, To string
	// Took is from SIGKILL until the other replica's leader gauge was 1.
	Took time.Duration
}

// RunChaos churns deployments through script while injecting faults into
// sys, then waits for convergence and checks it, and what the paused
// leaders did after their terms.
func RunChaos(ctx context.Context, sys *System, script *Script, o ChaosOptions) (*ChaosResult, error) {
	ops := chaos.Plan(o.Seed, o.Deployments, int(NumForms), o.Churn, o.PDelete)
	faults := chaos.Faults(o.Seed, len(ops), chaos.Sizes{Services: Services, Replicas: len(sys.Replicas[Services[0]]), Members: len(sys.ConfigDB.Members)})
	res := &ChaosResult{Seed: o.Seed, Counts: chaos.Count(ops), Deployments: o.Deployments, CompactedResyncs: map[string]int{}, LostResyncs: map[string]int{}}
	// The election keys, watched directly on etcd for the whole run: when
	// each term began and ended, by revision.
	terms := NewTerms()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := WatchTerms(wctx, sys.Store.Client(), sys.Env.ConfigPrefix, Services, terms, o.Logf); err != nil {
		return res, err
	}
	run := &chaosRun{sys: sys, o: o, terms: terms, svc: map[string]*sync.Mutex{}}
	for _, s := range Services {
		run.svc[s] = &sync.Mutex{}
	}
	compactedBefore := countLogLines(sys, resyncMsg, `"reason":"compacted"`)
	lostBefore := countLogLines(sys, resyncMsg, `"reason":"watch-lost"`)
	gaveUpBefore := countLogLines(sys, gaveUpMsg)["release-manager"]

	t0 := time.Now()
	res.Started = t0
	run.t0 = t0
	// Lanes of faults (chaos.Lane) run side by side, so that faults overlap
	// as outages do; in a lane one after the other, so that, say, each
	// failover is measured on its own. Faults that would spoil each other
	// across lanes exclude each other (chaosRun.exclude).
	lanes := make([]chan chaos.Fault, chaos.NumLanes)
	for i := range lanes {
		lanes[i] = make(chan chaos.Fault, len(faults))
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	runLane := func(queue <-chan chaos.Fault, seed uint64) {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(o.Seed, seed))
		for f := range queue {
			unlock := run.exclude(f)
			rec := FaultRecord{Fault: f, Start: time.Since(t0)}
			out, err := run.inject(ctx, f, rng)
			unlock()
			rec.Detail, rec.Err = out.detail, err
			rec.Took = time.Since(t0) - rec.Start
			if out.away > 0 {
				rec.AwayFrom, rec.Away = out.awayFrom.Sub(t0), out.away
			}
			o.Logf("fault %q %s at step %d (+%v): took %v; %s; err=%v", f.Kind, f.Service, f.AtOp,
				rec.Start.Round(time.Millisecond), rec.Took.Round(time.Millisecond), rec.Detail, rec.Err)
			mu.Lock()
			res.Faults = append(res.Faults, rec)
			res.Failovers = append(res.Failovers, out.failovers...)
			if out.pause != nil {
				res.Pauses = append(res.Pauses, out.pause)
			}
			mu.Unlock()
		}
	}
	for i, lane := range lanes {
		wg.Add(1)
		go runLane(lane, uint64(i+1))
	}
	enqueue := func(f chaos.Fault) { lanes[f.Kind.Lane()] <- f }

	next := 0
	var churnErr error
	for i, op := range ops {
		for next < len(faults) && faults[next].AtOp <= i {
			enqueue(faults[next])
			next++
		}
		select {
		case <-ctx.Done():
			churnErr = ctx.Err()
		case <-time.After(op.Wait):
		}
		if churnErr != nil {
			break
		}
		if err := applyOp(ctx, script, op, &res.WriteRetries); err != nil {
			churnErr = fmt.Errorf("churn step %d (%s %s): %w", i, op.Kind, op.ID, err)
			break
		}
		if op.Kind != chaos.Delete {
			run.installsAndUpgrades.Add(1)
		}
	}
	for ; next < len(faults); next++ {
		enqueue(faults[next])
	}
	for _, lane := range lanes {
		close(lane)
	}
	res.ChurnTook = time.Since(t0)
	o.Logf("churn done in %v: %+v; waiting for the faults to end", res.ChurnTook.Round(time.Millisecond), res.Counts)
	wg.Wait()
	res.FaultsTook = time.Since(t0)
	sort.SliceStable(res.Faults, func(i, j int) bool { return res.Faults[i].Start < res.Faults[j].Start })
	if churnErr != nil {
		return res, churnErr
	}
	for _, f := range res.Faults {
		if f.Err != nil {
			return res, fmt.Errorf("fault %q %s: %w", f.Kind, f.Service, f.Err)
		}
	}
	for _, w := range script.Model() {
		if w != nil {
			res.Alive++
		}
	}
	for s, n := range countLogLines(sys, resyncMsg, `"reason":"compacted"`) {
		res.CompactedResyncs[s] = n - compactedBefore[s]
	}
	for s, n := range countLogLines(sys, resyncMsg, `"reason":"watch-lost"`) {
		res.LostResyncs[s] = n - lostBefore[s]
	}
	var err error
	res.ConvergeTook, res.AtFaultsEnd, res.Mismatches, err = sys.Converge(ctx, script, o.Converge, func(at time.Duration, left []string) {
		step := ConvergeStep{At: at, Left: Summarise(left)}
		if len(left) > 0 {
			step.Example = left[0]
		}
		res.ConvergeSteps = append(res.ConvergeSteps, step)
	})
	res.DeployerConvergeTook = DeployerConverged(res.ConvergeSteps, res.ConvergeTook)
	res.SinceLastWrite = time.Since(t0) - res.ChurnTook
	res.GaveUp = countLogLines(sys, gaveUpMsg)["release-manager"] - gaveUpBefore
	res.Unlocks = countLogLines(sys, `"msg":"helm action done"`, `"action":"unlock"`)["release-manager"]
	res.FailedActions = countLogLines(sys, `"msg":"helm action failed"`)["release-manager"]
	run.provePauses(res)
	res.TermGaps = terms.Gaps()
	return res, err
}

// applyOp writes one churn step, retrying while the config DB is away, as
// a script would.
func applyOp(ctx context.Context, script *Script, op chaos.Op, retries *int) error {
	return eventually.Poll(ctx, 2*time.Minute, 200*time.Millisecond, func(context.Context) error {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		if op.Kind == chaos.Delete {
			err = script.Delete(wctx, op.ID, op.WithState)
		} else {
			err = script.Put(wctx, op.ID, Form(op.Form), "demo-receive", op.Values)
		}
		if err != nil {
			*retries++
		}
		return err
	})
}

// faultOutcome is what a fault did: a description, the failovers it
// caused, what it took away, from when and for how long (see
// FaultRecord.Away), and for a paused leader the proof so far.
type faultOutcome struct {
	detail    string
	failovers []Failover
	awayFrom  time.Time
	away      time.Duration
	pause     *PauseProof
}

// chaosRun is what the faults of one chaos run share.
type chaosRun struct {
	sys   *System
	o     ChaosOptions
	t0    time.Time
	terms *Terms
	// installsAndUpgrades counts the churn's creates and changes written.
	installsAndUpgrades atomic.Int64

	// svc is held by the faults of one service's replicas: a leader is not
	// killed while it is frozen. etcd is held exclusively by the restart of
	// the config DB and shared by the faults that need it to keep its
	// leases running: a frozen leader's lease must expire on time (a
	// config DB restart renews every lease), and member faults do not
	// overlap a restart of all members.
	svc  map[string]*sync.Mutex
	etcd sync.RWMutex
	// api is held exclusively by the API server's stop and freeze, and
	// shared by the frozen leaders: a request a leader sent in its term to
	// a frozen (or shutting down) API server waits in its socket and is
	// received, as the audit log stamps it, only when that server resumes,
	// maybe after the term ended. The audit log cannot tell such a request
	// from one sent late, so the proof needs the API server up meanwhile.
	api sync.RWMutex
}

// exclude takes what fault f must not share with faults of other lanes,
// and returns what lets it go.
func (r *chaosRun) exclude(f chaos.Fault) (unlock func()) {
	switch f.Kind {
	case chaos.KillReplica, chaos.KillLeader:
		m := r.svc[f.Service]
		m.Lock()
		return m.Unlock
	case chaos.PauseLeader:
		m := r.svc[f.Service]
		m.Lock()
		r.etcd.RLock()
		r.api.RLock()
		return func() { r.api.RUnlock(); r.etcd.RUnlock(); m.Unlock() }
	case chaos.StopAPIServer, chaos.PauseAPIServer:
		r.api.Lock()
		return r.api.Unlock
	case chaos.RestartEtcd:
		r.etcd.Lock()
		return r.etcd.Unlock
	case chaos.KillMember, chaos.CutMember, chaos.Compact:
		r.etcd.RLock()
		return r.etcd.RUnlock
	}
	return func() {}
}

// inject runs one fault and returns what it did.
func (r *chaosRun) inject(ctx context.Context, f chaos.Fault, rng *rand.Rand) (faultOutcome, error) {
	sys, o := r.sys, r.o
	switch f.Kind {
	case chaos.KillReplica:
		return killReplica(ctx, sys, sys.Replicas[f.Service][f.Replica], rng)
	case chaos.KillLeader:
		return killLeader(ctx, sys, f.Service)
	case chaos.PauseLeader:
		return r.pauseLeader(ctx, f.Service)
	case chaos.RestartEtcd:
		var pids []string
		for _, m := range sys.ConfigDB.Members {
			pids = append(pids, strconv.Itoa(m.PID()))
		}
		t := time.Now()
		killed, err := sys.ConfigDB.Stop()
		if err != nil {
			return faultOutcome{}, err
		}
		exited := time.Now()
		stopped := exited.Sub(t)
		how := "all exited"
		if len(killed) > 0 {
			how = fmt.Sprintf("%s killed at the end of the 10 s grace", strings.Join(killed, ", "))
		}
		time.Sleep(o.EtcdDown)
		t = time.Now()
		if err := sys.ConfigDB.Start(ctx); err != nil {
			return faultOutcome{}, err
		}
		return faultOutcome{
			detail: fmt.Sprintf("all %d members (pids %s) sent SIGTERM at once (%s after %v), down %v, all healthy %v after their start",
				len(pids), strings.Join(pids, ", "), how, stopped.Round(time.Millisecond), o.EtcdDown, time.Since(t).Round(time.Millisecond)),
			awayFrom: exited, away: time.Since(exited),
		}, nil
	case chaos.KillMember:
		return r.killMember(ctx)
	case chaos.CutMember:
		return r.cutMember(ctx, f.Member)
	case chaos.StopAPIServer:
		t := time.Now()
		start, err := o.StopAPIServer()
		if err != nil {
			return faultOutcome{}, err
		}
		gone := time.Now()
		stopped := gone.Sub(t)
		time.Sleep(o.APIServerDown)
		t = time.Now()
		if err := start(ctx); err != nil {
			return faultOutcome{}, err
		}
		return faultOutcome{
			detail: fmt.Sprintf("kube-apiserver sent SIGTERM, gone after %v (killed if not exited in 10 s), down %v, ready %v after its start",
				stopped.Round(time.Millisecond), o.APIServerDown, time.Since(t).Round(time.Millisecond)),
			awayFrom: gone, away: time.Since(gone),
		}, nil
	case chaos.PauseAPIServer:
		t := time.Now()
		resume := o.PauseAPIServer()
		time.Sleep(o.APIServerPaused)
		resume()
		return faultOutcome{
			detail:   fmt.Sprintf("kube-apiserver frozen (SIGSTOP) for %v, then SIGCONT", o.APIServerPaused),
			awayFrom: t, away: time.Since(t),
		}, nil
	case chaos.Compact:
		detail, err := compactPastServices(ctx, sys)
		return faultOutcome{detail: detail}, err
	}
	return faultOutcome{}, fmt.Errorf("unknown fault %q", f.Kind)
}

// memberRevisions says each running member's revision, to show a member
// back in the cluster has caught up.
func memberRevisions(ctx context.Context, sys *System) string {
	var parts []string
	for _, m := range sys.ConfigDB.Members {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := sys.Store.Client().Status(sctx, m.Endpoint)
		cancel()
		if err != nil {
			parts = append(parts, m.Name+" ?")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", m.Name, st.Header.Revision))
	}
	return strings.Join(parts, ", ")
}

// killMember kills a follower of the config DB's raft with SIGKILL, keeps
// it down for MemberDown while the churn goes on, starts it again on its
// data and waits until it is healthy: back in the cluster.
func (r *chaosRun) killMember(ctx context.Context) (faultOutcome, error) {
	db := r.sys.ConfigDB
	lead, err := db.RaftLeader(ctx, r.sys.Store.Client())
	if err != nil {
		return faultOutcome{}, err
	}
	m := db.Members[(lead+1)%len(db.Members)]
	pid := m.PID()
	m.Kill()
	time.Sleep(r.o.MemberDown)
	t := time.Now()
	if err := m.Start(ctx); err != nil {
		return faultOutcome{}, fmt.Errorf("restart %s: %w", m.Name, err)
	}
	healthy := time.Since(t)
	return faultOutcome{detail: fmt.Sprintf("killed %s (pid %d, a follower; raft leader %s), down %v, restarted on its data as pid %d, healthy %v after its start; revisions then: %s",
		m.Name, pid, db.Members[lead].Name, r.o.MemberDown, m.PID(), healthy.Round(time.Millisecond), memberRevisions(ctx, r.sys))}, nil
}

// cutMember cuts the services off member i (its proxy drops and refuses
// their connections) for MemberCut; the member goes on in the cluster.
func (r *chaosRun) cutMember(ctx context.Context, i int) (faultOutcome, error) {
	db := r.sys.ConfigDB
	role := "a follower"
	if lead, err := db.RaftLeader(ctx, r.sys.Store.Client()); err == nil && lead == i {
		role = "the raft leader"
	}
	db.Proxies[i].Cut()
	time.Sleep(r.o.MemberCut)
	db.Proxies[i].Heal()
	return faultOutcome{detail: fmt.Sprintf("services cut off %s (%s) for %v at its proxy, then let through again", db.Members[i].Name, role, r.o.MemberCut)}, nil
}

func killReplica(ctx context.Context, sys *System, r *Replica, rng *rand.Rand) (faultOutcome, error) {
	wasLeader := r.Leading()
	pid := r.Proc().PID()
	t := time.Now()
	r.Kill()
	// Down for a moment, as a pod being replaced would be.
	time.Sleep(time.Duration(rng.IntN(2000)) * time.Millisecond)
	if err := r.Start(sys.Bin(r.Service)); err != nil {
		return faultOutcome{}, err
	}
	out := faultOutcome{detail: fmt.Sprintf("killed %s (pid %d, leader %v), restarted as pid %d", r.Name, pid, wasLeader, r.Proc().PID())}
	if wasLeader {
		next, err := sys.WaitLeader(ctx, r.Service, nil, time.Minute)
		if err != nil {
			return out, err
		}
		took := time.Since(t)
		out.failovers = append(out.failovers, Failover{Service: r.Service, From: r.Name, To: next.Name, Took: took})
		out.awayFrom, out.away = t, took
		out.detail += fmt.Sprintf("; %s led after %v", next.Name, took.Round(time.Millisecond))
	}
	return out, r.WaitReady(ctx, time.Minute)
}

func killLeader(ctx context.Context, sys *System, service string) (faultOutcome, error) {
	leader, err := sys.WaitLeader(ctx, service, nil, time.Minute)
	if err != nil {
		return faultOutcome{}, err
	}
	pid := leader.Proc().PID()
	t := time.Now()
	leader.Kill()
	next, err := sys.WaitLeader(ctx, service, leader, time.Minute)
	if err != nil {
		return faultOutcome{}, err
	}
	took := time.Since(t)
	out := faultOutcome{failovers: []Failover{{Service: service, From: leader.Name, To: next.Name, Took: took}}, awayFrom: t, away: took}
	if err := leader.Start(sys.Bin(service)); err != nil {
		return out, err
	}
	out.detail = fmt.Sprintf("killed leader %s (pid %d); %s led after %v; %s restarted as pid %d",
		leader.Name, pid, next.Name, took.Round(time.Millisecond), leader.Name, leader.Proc().PID())
	return out, leader.WaitReady(ctx, time.Minute)
}

// gaveUpMsg is the release-manager's log message when it stops retrying a
// deployment until its entry changes.
const gaveUpMsg = `"msg":"reconcile failed; not retrying until the input changes"`

// resyncMsg is the services' log message when a config DB watch starts
// over after a gap.
const resyncMsg = `"msg":"config DB watch resynced"`

// compactPastServices cuts the services off etcd, moves the revision on
// and compacts, then lets them back and waits (up to 30 s) until the
// watching services (release-manager, pod-monitor) have listed again.
func compactPastServices(ctx context.Context, sys *System) (string, error) {
	before := countLogLines(sys, resyncMsg)
	sys.ConfigDB.CutAll()
	c := sys.Store.Client()
	var rev int64
	// Two writes at least past the last revision the services saw, so
	// that where their watches resume is compacted away.
	for i := range 3 {
		resp, err := c.Put(ctx, "e2e-compaction-marker", fmt.Sprint(i))
		if err != nil {
			sys.ConfigDB.HealAll()
			return "", fmt.Errorf("write while the services are cut off: %w", err)
		}
		rev = resp.Header.Revision
	}
	if _, err := c.Compact(ctx, rev); err != nil {
		sys.ConfigDB.HealAll()
		return "", fmt.Errorf("compact to %d: %w", rev, err)
	}
	time.Sleep(time.Second)
	sys.ConfigDB.HealAll()
	t := time.Now()
	// Wait for the watching services to list again before the next fault,
	// so that this one is not undone by, say, a leader killed at once. A
	// leader that is not watching just now (waiting for the API server
	// before it starts its term) lists afresh later: noted, not an error;
	// the convergence check judges the outcome.
	err := eventually.Poll(ctx, 30*time.Second, 100*time.Millisecond, func(context.Context) error {
		after := countLogLines(sys, resyncMsg)
		for _, s := range []string{"release-manager", "pod-monitor"} {
			if after[s] <= before[s] {
				return fmt.Errorf("%s has not listed again", s)
			}
		}
		return nil
	})
	detail := fmt.Sprintf("services cut off etcd for 1 s, compacted to revision %d; ", rev)
	if err != nil {
		return detail + fmt.Sprintf("after 30 s: %v (no watch running then)", errors.Unwrap(err)), nil
	}
	return detail + fmt.Sprintf("release-manager and pod-monitor listed again within %v", time.Since(t).Round(time.Millisecond)), nil
}

// countLogLines counts, per service, the log lines of all its replicas'
// starts that contain every one of subs.
func countLogLines(sys *System, subs ...string) map[string]int {
	n := map[string]int{}
	for _, name := range Services {
		for _, r := range sys.Replicas[name] {
			for _, p := range r.LogPaths() {
				b, err := os.ReadFile(p)
				if err != nil {
					continue
				}
			lines:
				for _, l := range strings.Split(string(b), "\n") {
					for _, sub := range subs {
						if !strings.Contains(l, sub) {
							continue lines
						}
					}
					n[name]++
				}
			}
		}
	}
	return n
}

// ClusterKinds are the mismatches the cluster, not the deployer, must
// clear: a pod of an uninstalled release is deleted by the garbage
// collector (its ReplicaSet's) and then by the kubelet (kwok here), which
// after an API server restart resume their watches on client-go's own
// backoff; pods still being rolled out change under a pods map that
// followed them ("pods changing", see PodsMapGrace). The state entries
// follow the pods as they are: a pods map that trails pods which have
// stood still for PodsMapGrace ("pods map") is the deployer's.
var ClusterKinds = map[string]bool{"orphan pod": true, "pods changing": true}

// DeployerConverged is when, since the faults ended, nothing but what the
// cluster must clear (ClusterKinds) was left: the first step from which on
// every later step has only those; took if the last step still had more.
func DeployerConverged(steps []ConvergeStep, took time.Duration) time.Duration {
	last := -1
	for i, st := range steps {
		for k, n := range st.Left {
			if n > 0 && !ClusterKinds[k] {
				last = i
			}
		}
	}
	if last+1 < len(steps) {
		return steps[last+1].At
	}
	return took
}

// ConvergeStep is what was left unconverged at a time since the faults
// ended, by kind, with one mismatch as an example.
type ConvergeStep struct {
	At      time.Duration
	Left    map[string]int
	Example string
}
