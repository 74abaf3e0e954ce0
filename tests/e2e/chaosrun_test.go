package e2e

import (
	"testing"
	"time"
)

// The deployer has converged from the first step after which only what the
// cluster must clear (orphan pods) is left.
func TestDeployerConverged(t *testing.T) {
	s := time.Second
	step := func(at int, left map[string]int) ConvergeStep {
		return ConvergeStep{At: time.Duration(at) * s, Left: left}
	}
	for _, tc := range []struct {
		name  string
		steps []ConvergeStep
		took  time.Duration
		want  time.Duration
	}{
		{"nothing left at once", []ConvergeStep{step(0, map[string]int{})}, 0, 0},
		{"only orphan pods from the start", []ConvergeStep{step(0, map[string]int{"orphan pod": 4}), step(30, map[string]int{})}, 30 * s, 0},
		{"deployer first, then pods", []ConvergeStep{
			step(0, map[string]int{"orphan pod": 4, "stale state": 2}),
			step(3, map[string]int{"orphan pod": 4}),
			step(30, map[string]int{}),
		}, 30 * s, 3 * s},
		{"deployer mismatch again later", []ConvergeStep{
			step(0, map[string]int{"stale state": 2}),
			step(3, map[string]int{"orphan pod": 4}),
			step(5, map[string]int{"pods map": 1}),
			step(8, map[string]int{}),
		}, 8 * s, 8 * s},
		{"did not converge", []ConvergeStep{step(0, map[string]int{"missing release": 1})}, time.Minute, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DeployerConverged(tc.steps, tc.took); got != tc.want {
				t.Errorf("DeployerConverged = %v, want %v", got, tc.want)
			}
		})
	}
}
