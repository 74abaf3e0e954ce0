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
	// RestartEtcd stops the config DB etcd and starts it again.
	RestartEtcd FaultKind = "restart the config etcd"
	// StopAPIServer stops the kube-apiserver for a while.
	StopAPIServer FaultKind = "stop the kube-apiserver"
	// PauseAPIServer freezes the kube-apiserver (SIGSTOP) for a while: a
	// hung server, whose connections stay open and silent.
	PauseAPIServer FaultKind = "pause the kube-apiserver"
	// Compact cuts the services off etcd, writes, compacts past their
	// revision, and lets them back.
	Compact FaultKind = "compact etcd past the services' revision"
)

// Fault is one fault and when in the churn it starts.
type Fault struct {
	Kind FaultKind
	// Service is the target of KillReplica and KillLeader.
	Service string
	// Replica is the index of the replica KillReplica kills.
	Replica int
	// AtOp is the churn step before which the fault starts.
	AtOp int
}

// Faults places, at random steps of a churn of nops steps (between 5 % and
// 75 % of it, so that the last faults still meet churn), a KillReplica and
// a KillLeader for each service, a RestartEtcd, a StopAPIServer, a
// PauseAPIServer and a Compact, in step order.
func Faults(seed uint64, nops int, services []string, replicas int) []Fault {
	rng := rand.New(rand.NewPCG(seed^0xfa17, seed))
	var fs []Fault
	for _, s := range services {
		fs = append(fs, Fault{Kind: KillReplica, Service: s, Replica: rng.IntN(replicas)}, Fault{Kind: KillLeader, Service: s})
	}
	fs = append(fs, Fault{Kind: RestartEtcd}, Fault{Kind: StopAPIServer}, Fault{Kind: PauseAPIServer}, Fault{Kind: Compact})
	lo, hi := nops*5/100, nops*75/100
	for i := range fs {
		fs[i].AtOp = lo + rng.IntN(max(hi-lo, 1))
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].AtOp < fs[j].AtOp })
	return fs
}
