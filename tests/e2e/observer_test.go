package e2e

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// TestObserverFollowsWhatObserveReads changes every kind of thing the check
// compares and expects the watched view to become what a read of
// everything finds: from a real etcd, and Helm release Secrets written by
// Helm's own Secrets driver.
func TestObserverFollowsWhatObserveReads(t *testing.T) {
	const ns = "sdp"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, store := etcdtest.Start(t).Store(t)
	kube := fake.NewClientset()
	releases := driver.NewSecrets(kube.CoreV1().Secrets(ns))

	put := func(id string, values map[string]any) {
		t.Helper()
		if err := store.PutDeployment(ctx, configdb.Deployment{ID: id, Kind: configdb.KindHelm, Chart: "demo", Values: values}); err != nil {
			t.Fatal(err)
		}
	}
	state := func(id string, rev int) {
		t.Helper()
		if _, err := store.UpdateRelease(ctx, id, func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus {
			return configdb.ReleaseStatus{Name: id, Status: "deployed", Revision: rev, Chart: "demo"}
		}); err != nil {
			t.Fatal(err)
		}
	}
	rel := func(name string, rev int, status release.Status, owned bool) *release.Release {
		r := &release.Release{Name: name, Version: rev, Namespace: ns, Info: &release.Info{Status: status},
			Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: "demo", Version: "0.1.0"}},
			Config: map[string]any{"replicas": float64(rev)}}
		if owned {
			r.Labels = map[string]string{managedByLabel: managedByValue}
		}
		return r
	}
	create := func(r *release.Release) {
		t.Helper()
		if err := releases.Create(fmt.Sprintf("sh.helm.release.v1.%s.v%d", r.Name, r.Version), r); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/instance": "a"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}

	// Some of everything before the watch starts: its first list.
	put("a", map[string]any{"x": 1})
	put("b", nil)
	state("a", 1)
	create(rel("a", 1, release.StatusDeployed, true))
	create(rel("other", 1, release.StatusDeployed, false))
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod("a-1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	obs, err := Watch(ctx, store, kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	same := func(step string) {
		t.Helper()
		var got, want Observed
		err := eventually.Poll(ctx, 10*time.Second, 20*time.Millisecond, func(context.Context) error {
			var err error
			if got, err = obs.Snapshot(); err != nil {
				return eventually.Stop(err)
			}
			if want, err = Observe(ctx, store, kube, ns); err != nil {
				return eventually.Stop(err)
			}
			if !reflect.DeepEqual(normalised(got), normalised(want)) {
				return fmt.Errorf("differ")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: the watched view is not what Observe reads: %v\nwatched: %+v\nread:    %+v", step, err, normalised(got), normalised(want))
		}
	}
	same("first list")
	if o, _ := obs.Snapshot(); o.Releases["a"].Revision != 1 || !o.Releases["a"].Owned || o.Releases["other"].Owned || len(o.Pods) != 1 {
		t.Fatalf("first list: %+v", normalised(o))
	} else if len(o.PodsChanged) != 0 {
		t.Fatalf("first list: pods there from the start counted as just changed: %v", o.PodsChanged)
	}

	// Then a change of each kind, seen only through the watches.
	put("a", map[string]any{"x": 2})
	state("a", 2)
	old := rel("a", 1, release.StatusSuperseded, true)
	if err := releases.Update("sh.helm.release.v1.a.v1", old); err != nil {
		t.Fatal(err)
	}
	create(rel("a", 2, release.StatusDeployed, true))
	if _, err := store.DeleteDeployment(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, store.Layout().DeploymentKey("bad"), "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Put(ctx, store.Layout().StateKey("b"), "[1]"); err != nil {
		t.Fatal(err)
	}
	if _, err := releases.Delete("sh.helm.release.v1.other.v1"); err != nil {
		t.Fatal(err)
	}
	if err := kube.CoreV1().Pods(ns).Delete(ctx, "a-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod("a-2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-obs.Changed():
	case <-ctx.Done():
		t.Fatal("no change signalled")
	}
	same("after changes")
	o, _ := obs.Snapshot()
	if o.Releases["a"].Revision != 2 || o.Releases["a"].Status != "deployed" || o.BadEntries["bad"] == "" || o.StateErrors["b"] == "" {
		t.Fatalf("after changes: %+v", normalised(o))
	}
	if changed := o.PodsChanged["a"]; changed.IsZero() || o.At.Before(changed) {
		t.Fatalf("after a pod of release a changed: PodsChanged %v, view at %v", o.PodsChanged, o.At)
	}

	// A release Secret that does not decode fails the view: the check must
	// not pass over what it cannot read.
	if _, err := kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.broken.v1", Namespace: ns, Labels: map[string]string{"owner": "helm", "name": "broken"}},
		Data:       map[string][]byte{"release": []byte("!!not base64")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = eventually.Poll(ctx, 10*time.Second, 20*time.Millisecond, func(context.Context) error {
		if _, err := obs.Snapshot(); err == nil {
			return fmt.Errorf("no error yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.Snapshot(); !strings.Contains(fmt.Sprint(err), "sh.helm.release.v1.broken.v1") {
		t.Fatalf("error %v does not name the Secret", err)
	}
}

// normalised is o with its pods reduced to their names in order, the one
// part whose order the two ways of reading differ in, and without what only
// a watch knows.
func normalised(o Observed) any {
	var pods []string
	for _, p := range o.Pods {
		pods = append(pods, p.Name)
	}
	sort.Strings(pods)
	o.Pods, o.PodsChanged, o.At = nil, nil, time.Time{}
	return struct {
		Observed
		Pods []string
	}{o, pods}
}
