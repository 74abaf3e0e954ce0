// Package chaos plans a seeded churn of deployment entries and the faults
// injected during it: pure functions of a seed, so that a failing run can
// be repeated exactly.
package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"
)

// OpKind is what a churn step does to a deployment entry.
type OpKind int

// Kinds of churn steps.
const (
	Create OpKind = iota
	Change
	Delete
)

func (k OpKind) String() string { return [...]string{"create", "change", "delete"}[k] }

// Op is one churn step.
type Op struct {
	Kind OpKind
	ID   string
	// Form selects the entry's field names (an e2e.Form), fixed per id:
	// one script writes one way.
	Form int
	// Values of a create or change.
	Values map[string]any
	// WithState: a delete that removes the state entry too.
	WithState bool
	// Wait is the pause before this step.
	Wait time.Duration
}

// Counts of a plan's steps by kind.
type Counts struct{ Create, Change, Delete int }

// Plan is a churn of n deployments over about duration: each id is
// created once, changed zero to two times and deleted with probability
// pDelete, its steps in that order, interleaved with the other ids'.
func Plan(seed uint64, n, forms int, duration time.Duration, pDelete float64) []Op {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	type timed struct {
		at float64
		op Op
	}
	var steps []timed
	for i := range n {
		id := fmt.Sprintf("chaos-%03d", i)
		form := rng.IntN(forms)
		at := rng.Float64() * 0.8
		port := 9000 + rng.IntN(500)
		replicas := 1
		steps = append(steps, timed{at, Op{Kind: Create, ID: id, Form: form, Values: values(replicas, port, 0)}})
		changes := rng.IntN(3)
		for c := 1; c <= changes; c++ {
			at += rng.Float64() * (1 - at) / 2
			// A change that rolls the pods (a new port), scales them, or
			// touches only a value the chart ignores: an upgrade with no
			// change in the cluster.
			switch rng.IntN(3) {
			case 0:
				port = 9000 + rng.IntN(500)
			case 1:
				replicas = 3 - replicas
			}
			steps = append(steps, timed{at, Op{Kind: Change, ID: id, Form: form, Values: values(replicas, port, c)}})
		}
		if rng.Float64() < pDelete {
			at += rng.Float64() * (1 - at) / 2
			steps = append(steps, timed{at, Op{Kind: Delete, ID: id, Form: form, WithState: rng.IntN(2) == 0}})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
	ops := make([]Op, len(steps))
	prev := 0.0
	for i, s := range steps {
		s.op.Wait = time.Duration((s.at - prev) * float64(duration))
		prev = s.at
		ops[i] = s.op
	}
	return ops
}

// values are a deployment's chart values: a dotted key, as scripts write
// nested values, and a revision marker the chart does not use.
func values(replicas, port, rev int) map[string]any {
	return map[string]any{"replicas": replicas, "receiver.port": port, "annotations": map[string]any{"e2e/revision": rev}}
}

// Count counts a plan's steps by kind.
func Count(ops []Op) Counts {
	var c Counts
	for _, op := range ops {
		switch op.Kind {
		case Create:
			c.Create++
		case Change:
			c.Change++
		case Delete:
			c.Delete++
		}
	}
	return c
}

// FaultKind is a fault injected during the churn.
type FaultKind string

// Faults.
const (
	// KillReplica kills one replica of a service with SIGKILL and starts it
	// again.
	KillReplica FaultKind = "kill -9 a replica"
	// KillLeader kills the leading replica of a service with SIGKILL,
	// measures how long until the other leads, and starts it again.
	KillLeader FaultKind = "kill -9 the leader"
	// PauseLeader freezes the leading replica of a service (SIGSTOP) for
	// twice its lease, while the other takes over, then resumes it
	// (SIGCONT): a long GC or a VM pause. What the frozen leader does after
	// its term ended is checked from the API server's audit log and etcd.
	PauseLeader FaultKind = "pause the leader"
	// RestartEtcd stops every member of the config DB and starts them
	// again: the config DB away.
	RestartEtcd FaultKind = "restart the config etcd"
	// KillMember kills one member of the config DB (a follower of its raft,
	// so that leases are not renewed under a frozen leader, as a raft
	// leader change does) with SIGKILL, and starts it again later on the
	// same data, to rejoin.
	KillMember FaultKind = "kill -9 a config DB member"
	// CutMember cuts the services off one member of the config DB (its
	// proxy drops their connections and refuses new ones) for a while; the
	// member itself goes on in the cluster.
	CutMember FaultKind = "cut a config DB member off"
	// StopAPIServer stops the kube-apiserver for a while.
	StopAPIServer FaultKind = "stop the kube-apiserver"
	// PauseAPIServer freezes the kube-apiserver (SIGSTOP) for a while: a
	// hung server, whose connections stay open and silent.
	PauseAPIServer FaultKind = "pause the kube-apiserver"
	// Compact cuts the services off etcd, writes, compacts past their
	// revision, and lets them back.
	Compact FaultKind = "compact etcd past the services' revision"
)

// Lane is a queue of faults run one after the other; the lanes run side by
// side, so that faults of different lanes overlap as outages do.
type Lane int

// Lanes.
const (
	// APILane holds the long API server outages.
	APILane Lane = iota
	// MainLane holds the replica kills, the config DB restart and the
	// compaction, one after the other so that each failover is measured on
	// its own.
	MainLane
	// PauseLane holds the paused leaders.
	PauseLane
	// MemberLane holds the faults of single config DB members.
	MemberLane
	NumLanes
)

// Lane is the lane a fault of kind k runs in.
func (k FaultKind) Lane() Lane {
	switch k {
	case StopAPIServer, PauseAPIServer:
		return APILane
	case PauseLeader:
		return PauseLane
	case KillMember, CutMember:
		return MemberLane
	}
	return MainLane
}

// Fault is one fault and when in the churn it starts.
type Fault struct {
	Kind FaultKind
	// Service is the target of KillReplica, KillLeader and PauseLeader.
	Service string
	// Replica is the index of the replica KillReplica kills.
	Replica int
	// Member is the index of the config DB member CutMember cuts off
	// (KillMember picks a follower when it starts).
	Member int
	// AtOp is the churn step before which the fault starts.
	AtOp int
}

// Sizes say what the faults can target.
type Sizes struct {
	// Services and the replicas of each.
	Services []string
	Replicas int
	// Members of the config DB.
	Members int
}

// Faults places, at random steps of a churn of nops steps (between 5 % and
// 75 % of it, so that the last faults still meet churn), a KillReplica, a
// KillLeader and a PauseLeader for each service, a RestartEtcd, a
// KillMember, a CutMember, a StopAPIServer, a PauseAPIServer and a Compact,
// in step order. The first service's pause is the first pause, within the
// first 35 % of the churn: its lane runs the pauses one after the other,
// and that one (the release-manager's) must meet a burst of creates and
// changes.
func Faults(seed uint64, nops int, sz Sizes) []Fault {
	rng := rand.New(rand.NewPCG(seed^0xfa17, seed))
	var fs []Fault
	for _, s := range sz.Services {
		fs = append(fs, Fault{Kind: KillReplica, Service: s, Replica: rng.IntN(sz.Replicas)}, Fault{Kind: KillLeader, Service: s})
	}
	fs = append(fs, Fault{Kind: RestartEtcd}, Fault{Kind: StopAPIServer}, Fault{Kind: PauseAPIServer}, Fault{Kind: Compact})
	lo, hi := nops*5/100, nops*75/100
	for i := range fs {
		fs[i].AtOp = lo + rng.IntN(max(hi-lo, 1))
	}
	fs = append(fs, Fault{Kind: KillMember, AtOp: lo + rng.IntN(max(hi-lo, 1))},
		Fault{Kind: CutMember, Member: rng.IntN(max(sz.Members, 1)), AtOp: lo + rng.IntN(max(hi-lo, 1))})
	// The first service's pause first, the others after it.
	first := lo + rng.IntN(max(nops*35/100-lo, 1))
	for i, s := range sz.Services {
		at := first
		if i > 0 {
			at = first + rng.IntN(max(hi-first, 1))
		}
		fs = append(fs, Fault{Kind: PauseLeader, Service: s, AtOp: at})
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].AtOp < fs[j].AtOp })
	return fs
}
