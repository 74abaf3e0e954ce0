package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Observer keeps what Observe reads up to date from watches: the deployment
// and state entries from etcd watches, Helm's release Secrets and the pods
// from informers. Waiting for convergence with it costs the machine the
// changes only; polling with Observe reads and decodes every release and
// pod several times a second, which on a 2-core machine takes CPU from the
// very services whose convergence is being timed, and times it no finer
// than one read.
type Observer struct {
	mu       sync.Mutex
	entries  map[string]configdb.Deployment
	bad      map[string]string
	states   map[string]configdb.DeploymentState
	stateErr map[string]string
	// revisions are the decoded release Secrets, by Secret name.
	revisions map[string]Release
	pods      cache.Store
	// podsChanged is when each release's pods last changed.
	podsChanged map[string]time.Time
	// changed has a value when something changed since the last Snapshot.
	changed chan struct{}
	// failed is the first release Secret that did not decode.
	failed error

	// entriesListed and statesListed are closed when the etcd watches
	// have their first lists.
	entriesListed, statesListed chan struct{}
}

// Watch starts an Observer of the config DB behind store and of namespace's
// releases and pods, and waits until it holds everything once. It runs
// until ctx ends.
func Watch(ctx context.Context, store *configdb.Store, kube kubernetes.Interface, namespace string) (*Observer, error) {
	o := &Observer{
		entries: map[string]configdb.Deployment{}, bad: map[string]string{},
		states: map[string]configdb.DeploymentState{}, stateErr: map[string]string{},
		revisions: map[string]Release{}, podsChanged: map[string]time.Time{},
		changed:       make(chan struct{}, 1),
		entriesListed: make(chan struct{}), statesListed: make(chan struct{}),
	}
	go o.watchEntries(ctx, store)
	go o.watchStates(ctx, store)

	factory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace))
	secrets := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = "owner=helm" }))
	podInf := factory.Core().V1().Pods().Informer()
	o.pods = podInf.GetStore()
	pods, err := podInf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			// The pods there when the watch starts have not just changed.
			if initial {
				o.signal()
				return
			}
			o.pod(obj)
		},
		UpdateFunc: func(old, obj any) {
			// A change the map would show: a pod's status as the map
			// lists it (a new pod, a gone one, a status).
			if op, ok := old.(*corev1.Pod); ok {
				if np, ok := obj.(*corev1.Pod); ok && PodStatus(*op) == PodStatus(*np) {
					return
				}
			}
			o.pod(obj)
		},
		DeleteFunc: func(obj any) { o.pod(obj) },
	})
	if err != nil {
		return nil, err
	}
	secInf := secrets.Core().V1().Secrets().Informer()
	secs, err := secInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.secret(obj, false) },
		UpdateFunc: func(_, obj any) { o.secret(obj, false) },
		DeleteFunc: func(obj any) { o.secret(obj, true) },
	})
	if err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	secrets.Start(ctx.Done())

	// The handlers' sync, not the informers': the releases are decoded in
	// the handler, after the informer's store has them. Looked at more
	// often than cache.WaitForCacheSync's 100 ms: a convergence is timed
	// from before the watches start.
	if err := wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) {
		return pods.HasSynced() && secs.HasSynced(), nil
	}); err != nil {
		return nil, fmt.Errorf("informers of %s not synced: %w", namespace, err)
	}
	for _, ch := range []chan struct{}{o.entriesListed, o.statesListed} {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("config DB not listed: %w", ctx.Err())
		}
	}
	return o, nil
}

// Changed has a value when something changed since the last Snapshot.
func (o *Observer) Changed() <-chan struct{} { return o.changed }

// PodsChanged is when the pods of each release last changed, as Snapshot
// gives it, without taking the change signal.
func (o *Observer) PodsChanged() map[string]time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.podsChanged)
}

// Snapshot is what the observer holds now, as Observe would have read it.
func (o *Observer) Snapshot() (Observed, error) {
	// Drained first: a change after this point signals again.
	select {
	case <-o.changed:
	default:
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed != nil {
		return Observed{}, o.failed
	}
	ob := Observed{Entries: maps.Clone(o.entries), BadEntries: maps.Clone(o.bad),
		States: maps.Clone(o.states), StateErrors: maps.Clone(o.stateErr), Releases: map[string]Release{},
		PodsChanged: maps.Clone(o.podsChanged), At: time.Now()}
	for _, r := range o.revisions {
		if cur, ok := ob.Releases[r.Name]; ok && cur.Revision > r.Revision {
			continue
		}
		ob.Releases[r.Name] = r
	}
	for _, p := range o.pods.List() {
		ob.Pods = append(ob.Pods, *p.(*corev1.Pod))
	}
	return ob, nil
}

func (o *Observer) signal() {
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

func (o *Observer) watchEntries(ctx context.Context, store *configdb.Store) {
	var once sync.Once
	_ = store.WatchDeployments(ctx, configdb.DeploymentWatch{
		OnResync: func(list configdb.DeploymentList, _ string) {
			o.mu.Lock()
			clear(o.entries)
			clear(o.bad)
			for _, d := range list.Deployments {
				if d.IsHelm() {
					o.entries[d.ID] = d
				}
			}
			for _, e := range list.Errors {
				o.bad[e.ID] = e.Error()
			}
			o.mu.Unlock()
			once.Do(func() { close(o.entriesListed) })
			o.signal()
		},
		OnEvent: func(ev configdb.DeploymentEvent) {
			o.mu.Lock()
			delete(o.entries, ev.ID)
			delete(o.bad, ev.ID)
			switch {
			case ev.Deleted:
			case ev.Err != nil:
				o.bad[ev.ID] = ev.Err.Error()
			case ev.Deployment.IsHelm():
				o.entries[ev.ID] = ev.Deployment
			}
			o.mu.Unlock()
			o.signal()
		},
	})
}

// watchStates reads every state entry in one read and follows them from its
// revision, so the view never goes back to an older entry; a watch that
// ends reads them all again.
func (o *Observer) watchStates(ctx context.Context, store *configdb.Store) {
	layout, client := store.Layout(), store.Client()
	prefix := layout.StatesPrefix()
	first := true
	for ctx.Err() == nil {
		resp, err := client.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		o.mu.Lock()
		clear(o.states)
		clear(o.stateErr)
		for _, kv := range resp.Kvs {
			o.putState(layout, kv.Key, kv.Value, false)
		}
		o.mu.Unlock()
		if first {
			first = false
			close(o.statesListed)
		}
		o.signal()
		for wr := range client.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
			if wr.Err() != nil {
				break
			}
			o.mu.Lock()
			for _, ev := range wr.Events {
				o.putState(layout, ev.Kv.Key, ev.Kv.Value, ev.Type == clientv3.EventTypeDelete)
			}
			o.mu.Unlock()
			o.signal()
		}
	}
}

// putState records one state entry; o.mu is held.
func (o *Observer) putState(layout configdb.Layout, key, value []byte, deleted bool) {
	id, ok := layout.StateID(string(key))
	if !ok {
		return
	}
	delete(o.states, id)
	delete(o.stateErr, id)
	if deleted {
		return
	}
	st, err := configdb.DecodeState(value)
	if err != nil {
		// Worded as Store.GetState words it, which Observe reads with.
		o.stateErr[id] = fmt.Sprintf("state of %s: %v", id, err)
		return
	}
	o.states[id] = st
}

// pod records when the pods of obj's release changed.
func (o *Observer) pod(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if p, ok := obj.(*corev1.Pod); ok {
		if rel := podRelease(*p); rel != "" {
			o.mu.Lock()
			o.podsChanged[rel] = time.Now()
			o.mu.Unlock()
		}
	}
	o.signal()
}

func (o *Observer) secret(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	var r Release
	var err error
	if !deleted {
		r, err = releaseOf(s)
	}
	o.mu.Lock()
	switch {
	case deleted:
		delete(o.revisions, s.Name)
	case err != nil:
		// Helm writes whole Secrets; one that does not decode is a bug
		// the check must not pass over.
		if o.failed == nil {
			o.failed = fmt.Errorf("release Secret %s: %w", s.Name, err)
		}
	default:
		o.revisions[s.Name] = r
	}
	o.mu.Unlock()
	o.signal()
}

// releaseOf decodes a Helm release Secret as Helm's Secrets driver stores
// it: the release as JSON, gzipped, base64 encoded, under "release"; the
// Secret's labels are the release's.
func releaseOf(s *corev1.Secret) (Release, error) {
	data, ok := s.Data["release"]
	if !ok {
		return Release{}, errors.New(`no "release" in its data`)
	}
	b, err := base64.StdEncoding.DecodeString(string(data))
	if err != nil {
		return Release{}, fmt.Errorf("base64: %w", err)
	}
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b, 0x08}) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return Release{}, fmt.Errorf("gzip: %w", err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return Release{}, fmt.Errorf("gzip: %w", err)
		}
	}
	var rel release.Release
	if err := json.Unmarshal(b, &rel); err != nil {
		return Release{}, fmt.Errorf("json: %w", err)
	}
	rel.Labels = s.Labels
	return releaseSummary(&rel), nil
}
