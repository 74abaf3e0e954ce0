package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// fakeTerm records the objects its handler is given; it is ready once
// its gate opens, and runs until the term ends.
type fakeTerm struct {
	gate *Gate
	run  func(ctx context.Context) error

	mu   sync.Mutex
	seen []string
}

func newFakeTerm() *fakeTerm { return &fakeTerm{gate: NewGate("not listed yet")} }

func (f *fakeTerm) Ready(ctx context.Context) error { return f.gate.Ready(ctx) }

func (f *fakeTerm) Run(ctx context.Context) error {
	if f.run != nil {
		return f.run(ctx)
	}
	<-ctx.Done()
	return nil
}

func (f *fakeTerm) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if o, ok := obj.(metav1.Object); ok {
			f.mu.Lock()
			f.seen = append(f.seen, o.GetName())
			f.mu.Unlock()
		}
	}}
}

func (f *fakeTerm) saw(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.seen, name)
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A term follows a process-lifetime informer: a standby is ready; a leader
// is not until the cache has synced and the term has caught up; the
// term's handler gets the cached objects at the start and the changes
// after, and nothing once the term has ended, when the term is dropped.
func TestRuntimeTerms(t *testing.T) {
	source := fcache.NewFakeControllerSource()
	defer source.Shutdown()
	source.Add(configMap("a"))
	informer := cache.NewSharedIndexInformer(source, &corev1.ConfigMap{}, 0, cache.Indexers{})

	var (
		mu    sync.Mutex
		terms []*fakeTerm
	)
	rt := NewRuntime(Spec[*fakeTerm]{
		Caches: []Cache{{HasSynced: informer.HasSynced, NotSynced: "cache not synced"}},
		Build: func(context.Context) (*fakeTerm, error) {
			f := newFakeTerm()
			mu.Lock()
			terms = append(terms, f)
			mu.Unlock()
			return f, nil
		},
		Watches: func(f *fakeTerm) []Watch {
			return []Watch{{Name: "config map", Informer: informer, Handler: f.handler()}}
		},
	})
	readyIs := func(want string) func() bool {
		return func() bool { return errText(rt.Ready(context.Background())) == want }
	}
	lead := func() (cancel func(), done chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done = make(chan error, 1)
		go func() { done <- rt.Lead(ctx) }()
		return cancel, done
	}

	if err := rt.Ready(context.Background()); err != nil {
		t.Errorf("standby not ready: %v", err)
	}
	if _, ok := rt.Current(); ok {
		t.Error("a term before leading")
	}

	cancel, done := lead()
	eventually.True(t, 10*time.Second, "a leader with an unsynced cache to be unready", readyIs("cache not synced"))
	infCtx, stopInformer := context.WithCancel(context.Background())
	defer stopInformer()
	go informer.RunWithContext(infCtx)
	eventually.True(t, 10*time.Second, "the term to be built and not yet caught up", readyIs("not listed yet"))
	first, ok := rt.Current()
	if !ok {
		t.Fatal("no current term while leading")
	}
	eventually.True(t, 10*time.Second, "the cached object given to the term", func() bool { return first.saw("a") })
	first.gate.Open()
	if err := rt.Ready(context.Background()); err != nil {
		t.Errorf("leader not ready once caught up: %v", err)
	}
	source.Add(configMap("b"))
	eventually.True(t, 10*time.Second, "a change given to the term", func() bool { return first.saw("b") })

	cancel()
	if err := <-done; err != nil {
		t.Errorf("term ended: %v", err)
	}
	if _, ok := rt.Current(); ok {
		t.Error("current term kept after the term ended")
	}
	if err := rt.Ready(context.Background()); err != nil {
		t.Errorf("standby after a term not ready: %v", err)
	}

	cancel, done = lead()
	defer func() {
		cancel()
		<-done
	}()
	eventually.True(t, 10*time.Second, "a second term", func() bool { f, ok := rt.Current(); return ok && f != first })
	second, _ := rt.Current()
	if errText(rt.Ready(context.Background())) != "not listed yet" {
		t.Error("a new term is ready before it caught up: readiness was carried over")
	}
	source.Add(configMap("c"))
	eventually.True(t, 10*time.Second, "the second term to see every object", func() bool { return second.saw("a") && second.saw("b") && second.saw("c") })
	if first.saw("c") {
		t.Error("the handler of an ended term still gets events")
	}
}

// fakeInformer is a synced informer whose handler registration can fail.
type fakeInformer struct{ addErr error }

func (f fakeInformer) HasSynced() bool { return true }
func (f fakeInformer) AddEventHandler(cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	return nil, f.addErr
}
func (f fakeInformer) RemoveEventHandler(cache.ResourceEventHandlerRegistration) error { return nil }

func TestRuntimeLeadEnds(t *testing.T) {
	errBuild := errors.New("no client")
	errRun := errors.New("watch failed")
	errAdd := errors.New("informer stopped")
	tests := []struct {
		name       string
		synced     bool
		cancelled  bool // the term is lost before Lead is called
		buildErr   error
		addErr     error
		runErr     error
		wantErr    error
		wantBuilds int
		wantRuns   int
	}{
		{name: "term lost before the caches synced", synced: false, cancelled: true},
		{name: "term lost while building", synced: true, cancelled: true, buildErr: context.Canceled, wantBuilds: 1},
		{name: "build fails", synced: true, buildErr: errBuild, wantErr: errBuild, wantBuilds: 1},
		{name: "handler not registered", synced: true, addErr: errAdd, wantErr: errAdd, wantBuilds: 1},
		{name: "run fails", synced: true, runErr: errRun, wantErr: errRun, wantBuilds: 1, wantRuns: 1},
		{name: "run ends", synced: true, wantBuilds: 1, wantRuns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			builds, runs := 0, 0
			rt := NewRuntime(Spec[*fakeTerm]{
				Caches: []Cache{{HasSynced: func() bool { return tt.synced }, NotSynced: "not synced"}},
				Build: func(context.Context) (*fakeTerm, error) {
					builds++
					if tt.buildErr != nil {
						return nil, tt.buildErr
					}
					f := newFakeTerm()
					f.run = func(context.Context) error { runs++; return tt.runErr }
					return f, nil
				},
				Watches: func(f *fakeTerm) []Watch {
					return []Watch{{Name: "thing", Informer: fakeInformer{addErr: tt.addErr}, Handler: f.handler()}}
				},
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			err := rt.Lead(ctx)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Lead = %v, want %v", err, tt.wantErr)
			}
			if builds != tt.wantBuilds || runs != tt.wantRuns {
				t.Errorf("built %d and ran %d times, want %d and %d", builds, runs, tt.wantBuilds, tt.wantRuns)
			}
			if _, ok := rt.Current(); ok {
				t.Error("a current term after Lead returned")
			}
			if err := rt.Ready(context.Background()); err != nil {
				t.Errorf("not ready as a standby after Lead returned: %v", err)
			}
		})
	}
}

func TestGate(t *testing.T) {
	g := NewGate("entries not listed yet")
	if err := g.Ready(context.Background()); errText(err) != "entries not listed yet" {
		t.Errorf("shut gate: Ready = %v", err)
	}
	for i, want := range []bool{true, false} {
		if first := g.Open(); first != want {
			t.Errorf("Open call %d = %v, want %v", i+1, first, want)
		}
	}
	if err := g.Ready(context.Background()); err != nil {
		t.Errorf("open gate: Ready = %v", err)
	}
}

// The workers of a Loop wait for its gate; the sources' errors come back,
// the term's end excepted.
func TestLoop(t *testing.T) {
	errWatch := errors.New("watch failed")
	tests := []struct {
		name      string
		sourceErr error
		wantErr   error
	}{
		{name: "source ends with the term", sourceErr: context.Canceled},
		{name: "source's wrapped end of term", sourceErr: fmt.Errorf("watch: %w", context.Canceled)},
		{name: "source fails", sourceErr: errWatch, wantErr: errWatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := NewQueue("loop-test", nil, QueueOptions{})
			gate := NewGate("not listed")
			var mu sync.Mutex
			var done []string
			var early bool
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			loop := Loop{
				Queue: q, Workers: 2, Log: discard(), Gate: gate,
				Reconcile: func(ctx context.Context, key string) error {
					mu.Lock()
					defer mu.Unlock()
					if gate.Ready(ctx) != nil {
						early = true
					}
					done = append(done, key)
					if len(done) == 2 {
						cancel()
					}
					return nil
				},
				Sources: []Source{func(ctx context.Context) error {
					q.Add("x")
					q.Add("y")
					// Time for a worker that does not wait to take a key.
					time.Sleep(20 * time.Millisecond)
					gate.Open()
					<-ctx.Done()
					return tt.sourceErr
				}},
			}
			err := loop.Run(ctx)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Run = %v, want %v", err, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if early {
				t.Error("a key worked before the gate opened")
			}
			slices.Sort(done)
			if !slices.Equal(done, []string{"x", "y"}) {
				t.Errorf("worked %v, want x and y", done)
			}
		})
	}
}

func TestEvery(t *testing.T) {
	const period = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	var calls []time.Duration
	Every(ctx, period, func(context.Context) {
		calls = append(calls, time.Since(start))
		if len(calls) == 3 {
			cancel()
		}
	})
	if len(calls) != 3 {
		t.Fatalf("%d calls before the end, want 3", len(calls))
	}
	if calls[0] < period {
		t.Errorf("first call after %v, before one period (%v)", calls[0], period)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
