package leader

import (
	"fmt"
	"sync/atomic"
)

// Guard holds the current term for what is built once per process but may
// act only within a term: the Kubernetes client of the Helm actions, whose
// transport asks CheckWrite before every request that changes something.
// The check is local (Term.Valid), so it costs no round trip.
type Guard struct {
	metrics *Metrics
	current atomic.Pointer[guardTerm]
}

type guardTerm struct{ term *Term }

// NewGuard returns a guard that refuses every write until a term is
// entered; refusals are counted on m (may be nil).
func NewGuard(m *Metrics) *Guard { return &Guard{metrics: m} }

// Enter makes t the current term; a nil t (leader election off) lets every
// write through. The term stays current after it ends, refusing writes,
// until the next one is entered.
func (g *Guard) Enter(t *Term) { g.current.Store(&guardTerm{term: t}) }

// errNoTerm is a write before any term: nothing of this process may change
// the cluster yet.
var errNoTerm = fmt.Errorf("%w: no term of leadership yet", ErrNotLeader)

// CheckWrite returns nil while the current term may write, else an error
// wrapping ErrNotLeader, counted as a fenced FencedKubeWrite.
func (g *Guard) CheckWrite() error {
	cur := g.current.Load()
	switch {
	case cur == nil:
		g.metrics.Fenced(FencedKubeWrite)
		return errNoTerm
	case !cur.term.Valid():
		g.metrics.Fenced(FencedKubeWrite)
		return errTermEnded
	}
	return nil
}
