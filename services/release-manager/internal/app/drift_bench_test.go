package app

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// driftChart makes one object of each kind the drift target names.
var driftChart = testrepo.New("drifty", "0.1.0", nil, map[string]string{
	"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: \"1\"\n",
	// Headless: no cluster IP is allocated (the local control plane's range
	// is small, and no address outside loopback is ever used here).
	"svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  clusterIP: None\n  selector:\n    app: {{ .Release.Name }}\n" +
		"  ports:\n  - port: 9000\n",
	"deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: 1\n  selector:\n" +
		"    matchLabels: {app: {{ .Release.Name }}}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n" +
		"    spec:\n      containers:\n      - name: main\n        image: registry.invalid/x:1\n",
	"sts.yaml": "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: 1\n  serviceName: {{ .Release.Name }}\n" +
		"  selector:\n    matchLabels: {app: {{ .Release.Name }}-s}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}-s}\n" +
		"    spec:\n      containers:\n      - name: main\n        image: registry.invalid/x:1\n",
})

// BenchmarkDriftRestore: SDP_BENCH_DRIFT_RELEASES releases (default 100)
// of a chart with a Deployment, a StatefulSet, a Service and a ConfigMap,
// under the default drift modes. Each iteration deletes one object of the
// next release (the kinds in turn) and times, from just before the delete,
// until an informer on that kind sees it made again (restore-p50/p99/max-ms).
// Then, in as many releases, a ConfigMap's data is changed by hand and the
// time until the state entry reports it is taken from an etcd watch
// (report-p50/p99-ms). new-revisions counts the Helm revisions made by
// all of it: the target is 0.
//
//	go test -run '^$' -bench DriftRestore -benchtime 100x ./internal/app
func BenchmarkDriftRestore(b *testing.B) {
	n := servicetest.EnvInt(b, "SDP_BENCH_DRIFT_RELEASES", 100)
	e := newEnv(b)
	e.repo.Add(driftChart)
	ctx := context.Background()
	w := watchStates(b, e)
	e.start()
	var keys []string
	for i := range n {
		id := fmt.Sprintf("d%d", i)
		e.put(id, entry(id, "drifty", "{}"))
		keys = append(keys, e.store.Layout().StateKey(id))
	}
	w.waitFor(b, 10*time.Minute, "every release deployed", func() bool { return w.countAt(keys, 1) == n })
	revisions := func() int {
		list, err := e.cs.CoreV1().Secrets(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
		if err != nil {
			b.Fatal(err)
		}
		return len(list.Items)
	}
	before := revisions()

	made := newMadeWatch(b, e)
	deletes := []struct {
		kind string
		del  func(name string) error
	}{
		{"Deployment", func(name string) error {
			return e.cs.AppsV1().Deployments(e.ns).Delete(ctx, name, metav1.DeleteOptions{})
		}},
		{"StatefulSet", func(name string) error {
			return e.cs.AppsV1().StatefulSets(e.ns).Delete(ctx, name, metav1.DeleteOptions{})
		}},
		{"Service", func(name string) error { return e.cs.CoreV1().Services(e.ns).Delete(ctx, name, metav1.DeleteOptions{}) }},
		{"ConfigMap", func(name string) error {
			return e.cs.CoreV1().ConfigMaps(e.ns).Delete(ctx, name, metav1.DeleteOptions{})
		}},
	}
	var restore []float64
	i := 0
	for b.Loop() {
		d := deletes[i%len(deletes)]
		name := fmt.Sprintf("sdp-d%d", i%n)
		i++
		seen := made.expect(d.kind, name)
		start := time.Now()
		if err := d.del(name); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-seen:
			restore = append(restore, ms(at.Sub(start)))
		case <-time.After(30 * time.Second):
			b.Fatalf("%s %s not made again within 30 s", d.kind, name)
		}
	}
	b.ReportMetric(percentile(restore, 50), "restore-p50-ms")
	b.ReportMetric(percentile(restore, 99), "restore-p99-ms")
	b.ReportMetric(percentile(restore, 100), "restore-max-ms")

	// Changed by hand: reported (warn, the default for changes).
	var report []float64
	for j := range min(i, n) {
		name, key := fmt.Sprintf("sdp-d%d", j), keys[j]
		cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		cm.Data["a"] = "by hand"
		start := time.Now()
		if _, err := e.cs.CoreV1().ConfigMaps(e.ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
			b.Fatal(err)
		}
		var at time.Time
		w.waitFor(b, 30*time.Second, "change of "+name+" reported", func() bool {
			st := w.states[key]
			if st.Release != nil && slices.ContainsFunc(st.Release.Drift, func(d configdb.DriftRecord) bool {
				return d.Kind == "ConfigMap" && d.Change == configdb.DriftChanged
			}) {
				at = time.Now()
				return true
			}
			return false
		})
		report = append(report, ms(at.Sub(start)))
	}
	b.ReportMetric(percentile(report, 50), "report-p50-ms")
	b.ReportMetric(percentile(report, 99), "report-p99-ms")
	b.ReportMetric(float64(revisions()-before), "new-revisions")
	b.ReportMetric(float64(n), "releases")
	b.ReportMetric(0, "ns/op")
}

// madeWatch tells, through informers on the namespace, when an object of
// the drift chart's kinds is created.
type madeWatch struct {
	mu   sync.Mutex
	want map[string]chan time.Time
}

func newMadeWatch(b *testing.B, e *testEnv) *madeWatch {
	m := &madeWatch{want: map[string]chan time.Time{}}
	f := informers.NewSharedInformerFactoryWithOptions(e.cs, 0, informers.WithNamespace(e.ns))
	for kind, inf := range map[string]cache.SharedIndexInformer{
		"Deployment": f.Apps().V1().Deployments().Informer(), "StatefulSet": f.Apps().V1().StatefulSets().Informer(),
		"Service": f.Core().V1().Services().Informer(), "ConfigMap": f.Core().V1().ConfigMaps().Informer(),
	} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
			at := time.Now()
			o, ok := obj.(metav1.Object)
			if !ok {
				return
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if ch, ok := m.want[kind+"/"+o.GetName()]; ok {
				delete(m.want, kind+"/"+o.GetName())
				ch <- at
			}
		}}); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return m
}

// expect returns a channel that receives when kind/name is next created.
func (m *madeWatch) expect(kind, name string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	m.mu.Lock()
	m.want[kind+"/"+name] = ch
	m.mu.Unlock()
	return ch
}
