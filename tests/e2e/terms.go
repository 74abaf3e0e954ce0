package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
)

// ElectionKeyEvent is a change of one candidate's key in a service's
// election: the key is put when the candidate campaigns (its value the
// candidate's identity) and deleted when it resigns or its lease expires.
type ElectionKeyEvent struct {
	Service string
	Key     string
	// Identity is the value of a put.
	Identity string
	Delete   bool
	// CreateRev orders the candidates (of a put): the leader is the one
	// whose key is oldest.
	CreateRev int64
	// Rev is the revision of the change; Seen when the test saw it.
	Rev  int64
	Seen time.Time
	// Gap: the change was not seen as it happened but found by listing the
	// keys again after the watch was lost; Rev is the list's revision, at or
	// after the change.
	Gap bool
}

// Term is one candidate's leadership of a service, as etcd recorded it:
// from the change that made its key the oldest until the deletion of its
// key.
type Term struct {
	Service, Identity, Key string
	StartRev               int64
	Start                  time.Time
	// EndRev is the revision of the deletion that ended the term, End when
	// the test saw it; zero while the term lasts.
	EndRev int64
	End    time.Time
	// EndGap: the end was found by listing again, EndRev is an upper bound.
	EndGap bool
}

// Ended reports whether the term has ended.
func (t Term) Ended() bool { return t.EndRev != 0 }

// Terms follows the elections of the services from their keys' changes.
// Safe for concurrent use.
type Terms struct {
	mu sync.Mutex
	// keys of each service: key → its put.
	keys map[string]map[string]ElectionKeyEvent
	// cur is the index in terms of each service's current term.
	cur   map[string]int
	terms []Term
	gaps  int
}

// NewTerms returns an empty tracker.
func NewTerms() *Terms {
	return &Terms{keys: map[string]map[string]ElectionKeyEvent{}, cur: map[string]int{}}
}

// Apply applies changes in revision order.
func (t *Terms) Apply(evs ...ElectionKeyEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		t.apply(ev)
	}
}

func (t *Terms) apply(ev ElectionKeyEvent) {
	keys := t.keys[ev.Service]
	if keys == nil {
		keys = map[string]ElectionKeyEvent{}
		t.keys[ev.Service] = keys
	}
	if ev.Delete {
		delete(keys, ev.Key)
	} else {
		keys[ev.Key] = ev
	}
	if ev.Gap {
		t.gaps++
	}
	var oldest *ElectionKeyEvent
	for _, k := range keys {
		if oldest == nil || k.CreateRev < oldest.CreateRev {
			oldest = &k
		}
	}
	i, has := t.cur[ev.Service]
	if has && oldest != nil && t.terms[i].Key == oldest.Key {
		return
	}
	if has {
		t.terms[i].EndRev, t.terms[i].End, t.terms[i].EndGap = ev.Rev, ev.Seen, ev.Gap
		delete(t.cur, ev.Service)
	}
	if oldest != nil {
		t.terms = append(t.terms, Term{Service: ev.Service, Identity: oldest.Identity, Key: oldest.Key, StartRev: ev.Rev, Start: ev.Seen})
		t.cur[ev.Service] = len(t.terms) - 1
	}
}

// Relist takes the keys listed at revision rev (seen at seen) after a gap
// in the watch: the keys the tracker has that are not listed are deleted,
// the listed ones it has not are put.
func (t *Terms) Relist(listed []ElectionKeyEvent, rev int64, seen time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := map[string]map[string]bool{}
	for _, ev := range listed {
		if now[ev.Service] == nil {
			now[ev.Service] = map[string]bool{}
		}
		now[ev.Service][ev.Key] = true
	}
	var changes []ElectionKeyEvent
	for svc, keys := range t.keys {
		for k := range keys {
			if !now[svc][k] {
				changes = append(changes, ElectionKeyEvent{Service: svc, Key: k, Delete: true, Rev: rev, Seen: seen, Gap: true})
			}
		}
	}
	for _, ev := range listed {
		if _, ok := t.keys[ev.Service][ev.Key]; !ok {
			ev.Rev, ev.Seen, ev.Gap = rev, seen, true
			changes = append(changes, ev)
		}
	}
	// Deletions first, then puts oldest first, each service apart: the
	// order the changes happened in as far as the list can tell.
	sort.SliceStable(changes, func(i, j int) bool {
		if changes[i].Delete != changes[j].Delete {
			return changes[i].Delete
		}
		return changes[i].CreateRev < changes[j].CreateRev
	})
	for _, ev := range changes {
		t.apply(ev)
	}
}

// All returns every term so far, in the order they began.
func (t *Terms) All() []Term {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Term(nil), t.terms...)
}

// Current returns the current term of service, and false when none is.
func (t *Terms) Current(service string) (Term, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.cur[service]
	if !ok {
		return Term{}, false
	}
	return t.terms[i], true
}

// Gaps counts the changes found by listing again rather than seen.
func (t *Terms) Gaps() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gaps
}

// TermOf returns the term of identity in service that contains the time at
// (begun at or before it, not ended before it), and false when none does.
func TermOf(terms []Term, service, identity string, at time.Time) (Term, bool) {
	for _, tm := range terms {
		if tm.Service == service && tm.Identity == identity && !tm.Start.After(at) && (!tm.Ended() || !tm.End.Before(at)) {
			return tm, true
		}
	}
	return Term{}, false
}

// NextTerm returns the first term of identity in service that began after
// the time after, and false when none did.
func NextTerm(terms []Term, service, identity string, after time.Time) (Term, bool) {
	for _, tm := range terms {
		if tm.Service == service && tm.Identity == identity && tm.Start.After(after) {
			return tm, true
		}
	}
	return Term{}, false
}

// WatchTerms lists and then watches the election keys of services under
// the config prefix, directly on etcd, and keeps terms up to date until ctx
// ends; when the watch is lost for good (compacted past), it lists again.
// It returns once the first list is in.
func WatchTerms(ctx context.Context, client *clientv3.Client, configPrefix string, services []string, terms *Terms, logf func(string, ...any)) error {
	prefixes := map[string]string{}
	for _, s := range services {
		prefixes[s] = leader.ElectionKey(configPrefix, s) + "/"
	}
	root := leader.ElectionKey(configPrefix, "")
	service := func(key string) (string, bool) {
		for s, p := range prefixes {
			if strings.HasPrefix(key, p) {
				return s, true
			}
		}
		return "", false
	}
	list := func(ctx context.Context) ([]ElectionKeyEvent, int64, error) {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := client.Get(lctx, root, clientv3.WithPrefix())
		if err != nil {
			return nil, 0, fmt.Errorf("list the election keys: %w", err)
		}
		var out []ElectionKeyEvent
		for _, kv := range resp.Kvs {
			if s, ok := service(string(kv.Key)); ok {
				out = append(out, ElectionKeyEvent{Service: s, Key: string(kv.Key), Identity: string(kv.Value), CreateRev: kv.CreateRevision})
			}
		}
		return out, resp.Header.Revision, nil
	}
	first, rev, err := list(ctx)
	if err != nil {
		return err
	}
	sort.Slice(first, func(i, j int) bool { return first[i].CreateRev < first[j].CreateRev })
	now := time.Now()
	for i := range first {
		first[i].Rev, first[i].Seen = rev, now
	}
	terms.Apply(first...)
	go func() {
		for ctx.Err() == nil {
			wch := client.Watch(clientv3.WithRequireLeader(ctx), root, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
			for resp := range wch {
				if err := resp.Err(); err != nil {
					if ctx.Err() == nil {
						logf("election keys' watch: %v", err)
					}
					break
				}
				seen := time.Now()
				var evs []ElectionKeyEvent
				for _, e := range resp.Events {
					s, ok := service(string(e.Kv.Key))
					if !ok {
						continue
					}
					ev := ElectionKeyEvent{Service: s, Key: string(e.Kv.Key), Rev: e.Kv.ModRevision, Seen: seen}
					if e.Type == clientv3.EventTypeDelete {
						ev.Delete = true
					} else {
						ev.Identity, ev.CreateRev = string(e.Kv.Value), e.Kv.CreateRevision
					}
					evs = append(evs, ev)
				}
				terms.Apply(evs...)
				rev = resp.Header.Revision
			}
			// Lost (compacted past, no leader, etcd gone for long): list
			// again and go on from there.
			for tries := 0; ctx.Err() == nil; tries++ {
				listed, r, err := list(ctx)
				if err == nil {
					terms.Relist(listed, r, time.Now())
					rev = r
					break
				}
				if ctx.Err() == nil && tries == 0 {
					logf("election keys: %v; listing again every 0.5 s", err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
			}
		}
	}()
	return nil
}
