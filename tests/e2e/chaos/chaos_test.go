package chaos

import (
	"reflect"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		seed    uint64
		n       int
		pDelete float64
	}{
		{seed: 1, n: 300, pDelete: 0.35},
		{seed: 42, n: 50, pDelete: 0},
		{seed: 2026, n: 10, pDelete: 1},
	} {
		const d = 90 * time.Second
		ops := Plan(tc.seed, tc.n, 4, d, tc.pDelete)
		if again := Plan(tc.seed, tc.n, 4, d, tc.pDelete); !reflect.DeepEqual(ops, again) {
			t.Errorf("seed %d: two plans differ", tc.seed)
		}
		if other := Plan(tc.seed+1, tc.n, 4, d, tc.pDelete); reflect.DeepEqual(ops, other) {
			t.Errorf("seeds %d and %d give the same plan", tc.seed, tc.seed+1)
		}
		c := Count(ops)
		if c.Create != tc.n {
			t.Errorf("seed %d: %d creates, want %d", tc.seed, c.Create, tc.n)
		}
		switch tc.pDelete {
		case 0:
			if c.Delete != 0 {
				t.Errorf("seed %d: %d deletes with pDelete 0", tc.seed, c.Delete)
			}
		case 1:
			if c.Delete != tc.n {
				t.Errorf("seed %d: %d deletes with pDelete 1, want %d", tc.seed, c.Delete, tc.n)
			}
		}
		// Each id: created first, deleted last if at all, one form.
		state := map[string]OpKind{}
		form := map[string]int{}
		var total time.Duration
		for i, op := range ops {
			total += op.Wait
			prev, seen := state[op.ID]
			switch {
			case op.Kind == Create && seen:
				t.Errorf("seed %d step %d: %s created twice", tc.seed, i, op.ID)
			case op.Kind != Create && !seen:
				t.Errorf("seed %d step %d: %s %s before create", tc.seed, i, op.ID, op.Kind)
			case seen && prev == Delete:
				t.Errorf("seed %d step %d: %s %s after delete", tc.seed, i, op.ID, op.Kind)
			}
			if f, ok := form[op.ID]; ok && f != op.Form {
				t.Errorf("seed %d: %s written in forms %d and %d", tc.seed, op.ID, f, op.Form)
			}
			state[op.ID], form[op.ID] = op.Kind, op.Form
			if op.Kind != Delete && op.Values["replicas"] == nil {
				t.Errorf("seed %d step %d: %s has no replicas value", tc.seed, i, op.Kind)
			}
		}
		if total > d {
			t.Errorf("seed %d: waits add up to %v, more than %v", tc.seed, total, d)
		}
	}
}

func TestFaults(t *testing.T) {
	services := []string{"a", "b", "c"}
	for _, seed := range []uint64{1, 7, 99} {
		const nops = 600
		sz := Sizes{Services: services, Replicas: 2, Members: 3}
		fs := Faults(seed, nops, sz)
		if !reflect.DeepEqual(fs, Faults(seed, nops, sz)) {
			t.Errorf("seed %d: two schedules differ", seed)
		}
		want := map[FaultKind]int{KillReplica: 3, KillLeader: 3, PauseLeader: 3, RestartEtcd: 1, KillMember: 1, CutMember: 1,
			StopAPIServer: 1, PauseAPIServer: 1, Compact: 1}
		got := map[FaultKind]int{}
		perService := map[string]int{}
		var pauses []Fault
		for i, f := range fs {
			if f.Kind == PauseLeader {
				pauses = append(pauses, f)
			}
			if f.Member < 0 || f.Member > 2 {
				t.Errorf("seed %d: member %d of 3", seed, f.Member)
			}
			got[f.Kind]++
			if f.Service != "" {
				perService[f.Service]++
			}
			if f.AtOp < nops*5/100 || f.AtOp >= nops*75/100 {
				t.Errorf("seed %d: %s at step %d, outside 5-75 %% of %d", seed, f.Kind, f.AtOp, nops)
			}
			if i > 0 && f.AtOp < fs[i-1].AtOp {
				t.Errorf("seed %d: faults not in step order", seed)
			}
			if f.Replica < 0 || f.Replica > 1 {
				t.Errorf("seed %d: replica %d of 2", seed, f.Replica)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("seed %d: faults %v, want %v", seed, got, want)
		}
		for _, s := range services {
			if perService[s] != 3 {
				t.Errorf("seed %d: service %s has %d faults, want 3", seed, s, perService[s])
			}
		}
		// The pauses run one after the other: the first service's comes
		// first and early, to meet the churn.
		if len(pauses) != 3 || pauses[0].Service != "a" || pauses[0].AtOp >= nops*35/100 {
			t.Errorf("seed %d: pauses %+v, want a's first, before step %d", seed, pauses, nops*35/100)
		}
	}
}

func TestLanes(t *testing.T) {
	for k, want := range map[FaultKind]Lane{
		KillReplica: MainLane, KillLeader: MainLane, RestartEtcd: MainLane, Compact: MainLane,
		StopAPIServer: APILane, PauseAPIServer: APILane,
		PauseLeader: PauseLane,
		KillMember:  MemberLane, CutMember: MemberLane,
	} {
		if got := k.Lane(); got != want {
			t.Errorf("%s: lane %d, want %d", k, got, want)
		}
	}
}
