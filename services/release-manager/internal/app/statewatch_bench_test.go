// The benchmarks' watch of the state entries: when each deployment was
// first seen deployed or running, and waiting on it without polling.

package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func truncated(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// stateWatch follows the state entries through one etcd watch and notes
// when each first said deployed and when each first had every pod RUNNING.
type stateWatch struct {
	mu       sync.Mutex
	states   map[string]configdb.DeploymentState
	deployed map[string]time.Time
	running  map[string]time.Time
	notify   chan struct{}
	err      error
}

func watchStates(b *testing.B, e *testEnv) *stateWatch {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	w := &stateWatch{states: map[string]configdb.DeploymentState{}, deployed: map[string]time.Time{}, running: map[string]time.Time{}, notify: make(chan struct{})}
	prefix := e.store.Layout().StatesPrefix()
	resp, err := e.store.Client().Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		b.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		w.note(string(kv.Key), kv.Value, false, time.Now())
	}
	wc := e.store.Client().Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	go func() {
		for r := range wc {
			at := time.Now()
			for _, ev := range r.Events {
				w.note(string(ev.Kv.Key), ev.Kv.Value, ev.Type == clientv3.EventTypeDelete, at)
			}
			if err := r.Err(); err != nil {
				w.fail(err)
			}
		}
	}()
	return w
}

func (w *stateWatch) note(key string, value []byte, deleted bool, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() { close(w.notify); w.notify = make(chan struct{}) }()
	if deleted {
		delete(w.states, key)
		return
	}
	st, err := configdb.DecodeState(value)
	if err != nil {
		w.err = fmt.Errorf("state entry %s: %w", key, err)
		return
	}
	w.states[key] = st
	if st.Release != nil && st.Release.Status == configdb.ReleaseDeployed && w.deployed[key].IsZero() {
		w.deployed[key] = at
	}
	if len(st.Pods) > 0 && w.running[key].IsZero() {
		for _, p := range st.Pods {
			if p != configdb.PodRunning {
				return
			}
		}
		w.running[key] = at
	}
}

func (w *stateWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
	close(w.notify)
	w.notify = make(chan struct{})
}

// waitFor waits until cond, called with the watch's lock held, holds.
func (w *stateWatch) waitFor(b *testing.B, timeout time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ok, ch, err := cond(), w.notify, w.err
		w.mu.Unlock()
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			w.mu.Lock()
			b.Fatalf("%s: not after %v; %d state entries: %v", what, timeout, len(w.states), truncated(fmt.Sprint(w.states), 2000))
		}
	}
}

// countAt counts the keys whose state says deployed at revision rev
// (called under the lock, from waitFor).
func (w *stateWatch) countAt(keys []string, rev int) int {
	c := 0
	for _, k := range keys {
		if st, ok := w.states[k]; ok && st.Release != nil && st.Release.Status == configdb.ReleaseDeployed && st.Release.Revision == rev && st.Release.Error == "" {
			c++
		}
	}
	return c
}

func (w *stateWatch) countPresent(keys []string) int {
	c := 0
	for _, k := range keys {
		if _, ok := w.states[k]; ok {
			c++
		}
	}
	return c
}

func (w *stateWatch) deployedAt(key string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deployed[key]
}

func (w *stateWatch) runningAt(key string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running[key]
}
