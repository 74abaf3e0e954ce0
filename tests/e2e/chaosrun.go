package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/tests/e2e/chaos"
)

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
	// EtcdDown is how long the config etcd stays stopped between its exit
	// and its start: a pod rescheduled, longer than the leadership lease.
	EtcdDown time.Duration
	// StopAPIServer stops the kube-apiserver and returns what starts it
	// again; PauseAPIServer freezes it and returns what resumes it.
	StopAPIServer  func() (start func(context.Context) error, err error)
	PauseAPIServer func() (resume func())
	// Converge bounds the wait for the system to settle after the churn
	// and the faults.
	Converge time.Duration
	// Logf reports progress.
	Logf func(format string, args ...any)
}

// ChaosResult is what a chaos run did and measured.
type ChaosResult struct {
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
// sys, then waits for convergence and checks it.
func RunChaos(ctx context.Context, sys *System, script *Script, o ChaosOptions) (*ChaosResult, error) {
	ops := chaos.Plan(o.Seed, o.Deployments, int(NumForms), o.Churn, o.PDelete)
	faults := chaos.Faults(o.Seed, len(ops), Services, len(sys.Replicas[Services[0]]))
	res := &ChaosResult{Seed: o.Seed, Counts: chaos.Count(ops), Deployments: o.Deployments, CompactedResyncs: map[string]int{}, LostResyncs: map[string]int{}}
	compactedBefore := countLogLines(sys, resyncMsg, `"reason":"compacted"`)
	lostBefore := countLogLines(sys, resyncMsg, `"reason":"watch-lost"`)
	gaveUpBefore := countLogLines(sys, gaveUpMsg)["release-manager"]

	t0 := time.Now()
	res.Started = t0
	// Two lanes of faults: the long API server outages in their own, so
	// that they overlap the others as outages do, and the rest one after the
	// other, so that each failover is measured on its own.
	apiLane, mainLane := make(chan chaos.Fault, len(faults)), make(chan chaos.Fault, len(faults))
	var mu sync.Mutex
	var wg sync.WaitGroup
	runLane := func(queue <-chan chaos.Fault, seed uint64) {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(o.Seed, seed))
		for f := range queue {
			rec := FaultRecord{Fault: f, Start: time.Since(t0)}
			out, err := injectFault(ctx, sys, f, o, rng)
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
			mu.Unlock()
		}
	}
	wg.Add(2)
	go runLane(apiLane, 1)
	go runLane(mainLane, 2)
	enqueue := func(f chaos.Fault) {
		if f.Kind == chaos.StopAPIServer || f.Kind == chaos.PauseAPIServer {
			apiLane <- f
		} else {
			mainLane <- f
		}
	}

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
	}
	for ; next < len(faults); next++ {
		enqueue(faults[next])
	}
	close(apiLane)
	close(mainLane)
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
	res.ConvergeTook, res.AtFaultsEnd, res.Mismatches, err = sys.Converge(ctx, script, o.Converge)
	res.SinceLastWrite = time.Since(t0) - res.ChurnTook
	res.GaveUp = countLogLines(sys, gaveUpMsg)["release-manager"] - gaveUpBefore
	res.Unlocks = countLogLines(sys, `"msg":"helm action done"`, `"action":"unlock"`)["release-manager"]
	res.FailedActions = countLogLines(sys, `"msg":"helm action failed"`)["release-manager"]
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
// caused, and what it took away, from when and for how long (see
// FaultRecord.Away).
type faultOutcome struct {
	detail    string
	failovers []Failover
	awayFrom  time.Time
	away      time.Duration
}

// injectFault runs one fault and returns what it did.
func injectFault(ctx context.Context, sys *System, f chaos.Fault, o ChaosOptions, rng *rand.Rand) (faultOutcome, error) {
	switch f.Kind {
	case chaos.KillReplica:
		return killReplica(ctx, sys, sys.Replicas[f.Service][f.Replica], rng)
	case chaos.KillLeader:
		return killLeader(ctx, sys, f.Service)
	case chaos.RestartEtcd:
		pid := sys.Etcd.PID()
		t := time.Now()
		if err := sys.Etcd.Stop(); err != nil {
			return faultOutcome{}, err
		}
		exited := time.Now()
		stopped := exited.Sub(t)
		time.Sleep(o.EtcdDown)
		t = time.Now()
		if err := sys.Etcd.Start(ctx); err != nil {
			return faultOutcome{}, err
		}
		return faultOutcome{
			detail: fmt.Sprintf("etcd pid %d stopped (SIGTERM; exited after %v), down %v, pid %d healthy %v after its start",
				pid, stopped.Round(time.Millisecond), o.EtcdDown, sys.Etcd.PID(), time.Since(t).Round(time.Millisecond)),
			awayFrom: exited, away: time.Since(exited),
		}, nil
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
	sys.Proxy.Cut()
	c := sys.Store.Client()
	var rev int64
	// Two writes at least past the last revision the services saw, so
	// that where their watches resume is compacted away.
	for i := range 3 {
		resp, err := c.Put(ctx, "e2e-compaction-marker", fmt.Sprint(i))
		if err != nil {
			sys.Proxy.Heal()
			return "", fmt.Errorf("write while the services are cut off: %w", err)
		}
		rev = resp.Header.Revision
	}
	if _, err := c.Compact(ctx, rev); err != nil {
		sys.Proxy.Heal()
		return "", fmt.Errorf("compact to %d: %w", rev, err)
	}
	time.Sleep(time.Second)
	sys.Proxy.Heal()
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
