package reconciler

import (
	"errors"
	"sync"

	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// attempts is the budget of failed install/upgrade attempts per
// deployment, for one content of its entry: a new content (digest) starts
// a new budget, so a fixed entry is tried again at once.
type attempts struct {
	max int

	mu   sync.Mutex
	byID map[string]attempt
}

type attempt struct {
	digest string
	n      int
}

func newAttempts(max int) *attempts {
	return &attempts{max: max, byID: map[string]attempt{}}
}

// exhausted reports whether the budget of this content is used up, and
// how many attempts used it.
func (a *attempts) exhausted(id, digest string) (int, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.byID[id]
	return cur.n, cur.digest == digest && cur.n >= a.max
}

// failed counts a failed attempt, unless its cause lies outside the
// budget, and reports whether the budget is now used up.
func (a *attempts) failed(id, digest string, err error) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.byID[id]
	if cur.digest != digest {
		cur = attempt{digest: digest}
	}
	if !outsideBudget(err) {
		cur.n++
	}
	// A refusal (confinement, an API not served) is the same on every
	// attempt: the budget is spent at once, so that not even the change of
	// Helm's failed record of a refused hook retries it, as an upgrade,
	// which would skip the install hooks.
	if errors.Is(err, controller.ErrPermanent) {
		cur.n = a.max
	}
	a.byID[id] = cur
	return cur.n >= a.max
}

// outsideBudget: a chart repository, the Kubernetes API (refused, or not
// answering within the request timeout) or the config DB that is away is
// nobody's fault in the entry, so it is retried with backoff for as long
// as it takes without counting (an API server down for 30 s used the
// budget up in ~3 s, and the deployment then waited for its entry to
// change).
func outsideBudget(err error) bool {
	_, away := waitsOn(err)
	return away
}

// forget drops one deployment's budget (it succeeded, or is gone).
func (a *attempts) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.byID, id)
}

// forgetAll drops every budget: the chart repository changed, so a chart
// that was missing may now be there.
func (a *attempts) forgetAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byID = map[string]attempt{}
}
