package monitor

import (
	"maps"
	"slices"
)

// The pods and reasons parts of a state entry deleted or overwritten by
// someone else are repaired through m.part (controller.StatePart), which
// asks these two what the monitor looks after.

// isKnown reports whether id has a helm deployment entry.
func (m *Monitor) isKnown(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.known[id]
}

// knownIDs lists the deployments with a helm entry.
func (m *Monitor) knownIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Keys(m.known))
}
