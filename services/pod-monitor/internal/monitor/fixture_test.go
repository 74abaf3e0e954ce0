// The monitor tests' fixture: a Monitor over a fake pod cache and a real
// etcd, with helpers to set pods and read what was written.

package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podcache"
	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podstatus"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

const prefix = "sdp"

// fakePods is the pod cache: pod objects by name, classified as the real
// cache does.
type fakePods struct {
	classify *podcache.Cache
	mu       sync.Mutex
	pods     map[string]*corev1.Pod
}

func newFakePods(t *testing.T) *fakePods {
	c, err := podcache.New(&cache.ListWatch{}, prefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &fakePods{classify: c, pods: map[string]*corev1.Pod{}}
}

func (f *fakePods) set(p *corev1.Pod) { f.mu.Lock(); f.pods[p.Name] = p; f.mu.Unlock() }
func (f *fakePods) del(name string)   { f.mu.Lock(); delete(f.pods, name); f.mu.Unlock() }

func (f *fakePods) Pods(id string) (configdb.PodReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := configdb.PodReport{Pods: map[string]configdb.PodStatus{}, Reasons: map[string]configdb.PodReason{}}
	for _, p := range f.pods {
		if pid, _ := f.classify.Classify(p); pid == id {
			report(out, p)
		}
	}
	return out, nil
}

func (f *fakePods) Classify(obj any) (string, string) { return f.classify.Classify(obj) }

func (f *fakePods) CountByStatus() map[configdb.PodStatus]int { return nil }

func pod(name, release string, phase corev1.PodPhase) *corev1.Pod {
	labels := map[string]string{}
	if release != "" {
		labels[podstatus.LabelInstance] = release
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Status: corev1.PodStatus{Phase: phase}}
}

type fixture struct {
	t     *testing.T
	etcd  *etcdtest.Server
	store *configdb.Store
	pods  *fakePods
	reg   *prometheus.Registry
	logs  *bytes.Buffer
	m     *Monitor
}

func newFixture(t *testing.T) *fixture {
	srv := etcdtest.Start(t)
	_, store := srv.Store(t)
	f := &fixture{t: t, etcd: srv, store: store, pods: newFakePods(t), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	log := slog.New(slog.NewJSONHandler(syncWriter{w: f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.m = New(Config{Store: store, Pods: f.pods, Workers: 2, Log: log}, NewMetrics(f.reg, f.pods.CountByStatus), f.reg)
	return f
}

var logMu sync.Mutex

type syncWriter struct{ w *bytes.Buffer }

func (s syncWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return s.w.Write(p)
}

func (f *fixture) logText() string { logMu.Lock(); defer logMu.Unlock(); return f.logs.String() }

func (f *fixture) run() {
	servicetest.RunLead(f.t, context.Background(), f.m.Run)
}

func (f *fixture) deployment(id, kind string) {
	f.t.Helper()
	if err := f.store.PutDeployment(context.Background(), configdb.Deployment{ID: id, Kind: kind, Chart: "c"}); err != nil {
		f.t.Fatal(err)
	}
}

// settle waits until the work queue has stayed empty for a while (a key
// in flight is not in the queue, so empty once is not enough).
func (f *fixture) settle() {
	f.t.Helper()
	quiet := 0
	eventually.Eventually(f.t, 20*time.Second, func() error {
		if f.m.Ready(context.Background()) == nil && f.m.queue.Len() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		if quiet < 10 {
			return errors.New("work queue never settled")
		}
		return nil
	})
}

// eventually polls cond until it holds or fails the test after a while.
func (f *fixture) eventually(what string, cond func() (bool, string)) {
	f.t.Helper()
	eventually.Eventually(f.t, 20*time.Second, func() error {
		if ok, last := cond(); !ok {
			return fmt.Errorf("waiting for %s; last: %s", what, last)
		}
		return nil
	})
}

// observed is how many latencies the histogram holds.
func (f *fixture) observed() uint64 {
	var m dto.Metric
	if err := f.m.metrics.latency.Write(&m); err != nil {
		f.t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// state returns a deployment's pods map, whether its state entry exists,
// and how many times the entry was written since it was created.
func (f *fixture) state(id string) (map[string]configdb.PodStatus, bool, int64) {
	f.t.Helper()
	resp, err := f.store.Client().Get(context.Background(), f.store.Layout().StateKey(id))
	if err != nil {
		f.t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return nil, false, 0
	}
	st, err := configdb.DecodeState(resp.Kvs[0].Value)
	if err != nil {
		f.t.Fatalf("state of %s: %v", id, err)
	}
	return st.Pods, true, resp.Kvs[0].Version
}

func (f *fixture) writes(result string) float64 {
	return testutil.ToFloat64(f.m.metrics.writes.WithLabelValues(result))
}
