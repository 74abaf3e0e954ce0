package configdb_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// leaseFence is a fence like a leadership term's: a key held by a lease,
// valid while the key is the one created at rev.
type leaseFence struct {
	key string
	rev int64
}

func (f leaseFence) Cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev)
}

// observer records what a store reports of its writes.
type observer struct {
	mu        sync.Mutex
	committed []int64
	fenced    int
}

func (o *observer) WriteCommitted(rev int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.committed = append(o.committed, rev)
}

func (o *observer) WriteFenced() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fenced++
}

func (o *observer) counts() (committed, fenced int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.committed), o.fenced
}

// newFence puts a key under a fresh lease and returns a fence on it and
// the function that revokes the lease, deleting the key.
func newFence(t *testing.T, e storeEnv) (leaseFence, func()) {
	t.Helper()
	c := ctx(t)
	lease, err := e.client.Grant(c, 60)
	if err != nil {
		t.Fatal(err)
	}
	key := "fence/" + t.Name()
	resp, err := e.client.Put(c, key, "me", clientv3.WithLease(lease.ID))
	if err != nil {
		t.Fatal(err)
	}
	return leaseFence{key: key, rev: resp.Header.Revision}, func() {
		if _, err := e.client.Revoke(c, lease.ID); err != nil {
			t.Fatal(err)
		}
	}
}

func (e storeEnv) revision(t *testing.T) int64 {
	t.Helper()
	resp, err := e.client.Get(ctx(t), "any")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// Every write a service makes carries the fence in its transaction: while
// the fence's key is the one it names the write goes through (and its
// revision is reported); once the lease is revoked and the key gone, the
// write is refused with ErrFenced, distinct from a conflict, and nothing is
// written.
func TestFencedWrites(t *testing.T) {
	vlan := 7
	res := configdb.NetworkResource{Namespace: "sdp", Name: "n1", CNIType: "macvlan", Master: "eth0", VLAN: &vlan,
		Subnet: "10.1.0.0/24", RangeStart: "10.1.0.10", RangeEnd: "10.1.0.20", Gateway: "10.1.0.1"}
	tests := []struct {
		name string
		// setup prepares the entries, unfenced; write is the fenced write,
		// given a fresh value each time so that it always has something to
		// change.
		setup func(t *testing.T, e storeEnv)
		write func(c context.Context, s *configdb.Store, n int) error
	}{
		{
			name: "pods part of a state entry",
			setup: func(t *testing.T, e storeEnv) {
				e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
			},
			write: func(c context.Context, s *configdb.Store, n int) error {
				pods := map[string]configdb.PodStatus{"p": configdb.PodRunning}
				if n%2 == 1 {
					pods["q"] = configdb.PodPending
				}
				_, err := s.UpdatePods(c, "d", setPods(pods))
				return err
			},
		},
		{
			name: "release part of a state entry",
			setup: func(t *testing.T, e storeEnv) {
				e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
			},
			write: func(c context.Context, s *configdb.Store, n int) error {
				_, err := s.UpdateRelease(c, "d", func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus {
					return configdb.ReleaseStatus{Name: "r", Status: configdb.ReleaseDeployed, Revision: n + 1}
				})
				return err
			},
		},
		{
			name: "orphan state removal",
			setup: func(t *testing.T, e storeEnv) {
				e.putRaw(t, "/deploy/o0/state", `{"pods": {}}`)
				e.putRaw(t, "/deploy/o1/state", `{"pods": {}}`)
			},
			write: func(c context.Context, s *configdb.Store, n int) error {
				deleted, err := s.DeleteOrphanState(c, []string{"o0", "o1"}[n])
				if err == nil && !deleted {
					return errors.New("orphan state not deleted")
				}
				return err
			},
		},
		{
			name: "resource entry write",
			write: func(c context.Context, s *configdb.Store, n int) error {
				r := res
				r.Gateway = []string{"10.1.0.1", "10.1.0.2"}[n]
				_, err := s.PutResource(c, r)
				return err
			},
		},
		{
			name: "resource entry removal",
			setup: func(t *testing.T, e storeEnv) {
				for _, name := range []string{"n0", "n1"} {
					r := res
					r.Name = name
					if _, err := e.store.PutResource(ctx(t), r); err != nil {
						t.Fatal(err)
					}
				}
			},
			write: func(c context.Context, s *configdb.Store, n int) error {
				deleted, err := s.DeleteResource(c, configdb.NetworkResource{Namespace: "sdp", Name: []string{"n0", "n1"}[n]}.ID())
				if err == nil && !deleted {
					return errors.New("resource entry not deleted")
				}
				return err
			},
		},
		{
			name: "deployment entry write",
			write: func(c context.Context, s *configdb.Store, n int) error {
				return s.PutDeployment(c, configdb.Deployment{ID: "w", Kind: "helm", Chart: []string{"a", "b"}[n]})
			},
		},
		{
			name: "deployment entry removal",
			setup: func(t *testing.T, e storeEnv) {
				e.putRaw(t, "/deploy/x0", `{"key": "x0", "kind": "helm", "args": {"chart": "c"}}`)
				e.putRaw(t, "/deploy/x1", `{"key": "x1", "kind": "helm", "args": {"chart": "c"}}`)
			},
			write: func(c context.Context, s *configdb.Store, n int) error {
				_, err := s.DeleteDeployment(c, []string{"x0", "x1"}[n])
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newStore(t)
			c := ctx(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			obs := &observer{}
			e.store.SetWriteObserver(obs)
			fence, revoke := newFence(t, e)
			fenced := e.store.Fenced(fence)

			if err := tt.write(c, fenced, 0); err != nil {
				t.Fatalf("write under a holding fence: %v", err)
			}
			if committed, _ := obs.counts(); committed != 1 {
				t.Fatalf("%d writes reported committed, want 1", committed)
			}
			if got, want := obs.committed[0], e.revision(t); got != want {
				t.Errorf("committed write reported at revision %d, the store is at %d", got, want)
			}

			revoke()
			before := e.revision(t)
			err := tt.write(c, fenced, 1)
			if !errors.Is(err, configdb.ErrFenced) {
				t.Fatalf("write after the fence's key was deleted: %v, want ErrFenced", err)
			}
			if errors.Is(err, configdb.ErrConflict) || errors.Is(err, configdb.ErrTooManyConflicts) {
				t.Errorf("fenced write reported as a conflict: %v", err)
			}
			if after := e.revision(t); after != before {
				t.Errorf("revision moved from %d to %d: a fenced write wrote", before, after)
			}
			if committed, fencedN := obs.counts(); committed != 1 || fencedN != 1 {
				t.Errorf("observer saw %d committed and %d fenced writes, want 1 and 1", committed, fencedN)
			}
			// The store it was made from is not fenced.
			if err := tt.write(c, e.store, 1); err != nil {
				t.Errorf("unfenced write: %v", err)
			}
		})
	}
}

// A compare-and-swap lost to another writer under a holding fence is a
// conflict, retried, not a fenced write.
func TestFencedConflictIsNoFence(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
	fence, _ := newFence(t, e)
	fenced := e.store.Fenced(fence)
	first := true
	res, err := fenced.UpdatePods(c, "d", func(map[string]configdb.PodStatus) map[string]configdb.PodStatus {
		if first {
			first = false
			// Another writer changes the entry between the read and the
			// write.
			e.putRaw(t, "/deploy/d/state", `{"release": {"name": "r"}}`)
		}
		return map[string]configdb.PodStatus{"p": configdb.PodRunning}
	})
	if err != nil || !res.Written || res.Conflicts != 1 {
		t.Fatalf("update = %+v, %v; want written after 1 conflict", res, err)
	}
	st, _, err := e.store.GetState(c, "d")
	if err != nil || st.Pods["p"] != configdb.PodRunning || st.Release == nil || st.Release.Name != "r" {
		t.Errorf("state %+v (%v): want the pods written over the other writer's release part", st, err)
	}
}
