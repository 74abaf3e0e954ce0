package monitor

import (
	"context"
	"maps"
	"slices"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// The pods and reasons parts of a state entry deleted or overwritten by
// someone else are repaired within moments: the state entries are watched,
// and a change whose pods or reasons part differs from what this service
// would write puts the deployment on the queue, where the ordinary
// reconcile writes it again. Its own writes come back as changes too; they
// match what it meant to write and are let be, as are the
// release-manager's writes of its part.

// watchStates is the term's source of state entry changes.
func (m *Monitor) watchStates(ctx context.Context) error {
	return controller.WatchStates(ctx, m.cfg.Store, configdb.StateWatch{OnResync: m.onStateResync, OnChange: m.onStateChange})
}

// onStateResync: after a gap in the watch any part may have changed
// unseen, so every deployment's part is written again where it differs. At
// the start the deployments' first list does that.
func (m *Monitor) onStateResync(reason string) {
	controller.RequeueAfterGap(reason, m.queue, func() []string {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.written = map[string]configdb.PodReport{}
		return slices.Collect(maps.Keys(m.known))
	})
}

func (m *Monitor) onStateChange(ch configdb.StateChange) {
	m.mu.Lock()
	known := m.known[ch.ID]
	want, meant := m.intended[ch.ID]
	// A deployment without an entry has its state entry removed through
	// the sweep; one not looked at yet in this term is on its way.
	if !known || (meant && ch.Err == nil && want.Equal(configdb.PodReport{Pods: ch.State.Pods, Reasons: ch.State.Reasons})) {
		m.mu.Unlock()
		return
	}
	delete(m.written, ch.ID)
	m.mu.Unlock()
	m.cfg.Log.Info("state entry's pods or reasons part changed by someone else; writing it again", "deployment", ch.ID,
		"found", ch.Found, "revision", ch.Revision)
	m.queue.Add(ch.ID)
}
