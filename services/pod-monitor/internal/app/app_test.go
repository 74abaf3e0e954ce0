package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podstatus"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// Integration tests against the local control plane's API server. There
// is no kubelet: the tests write pod status as a kubelet would.

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

var nsCounter atomic.Int32

type testEnv struct {
	t     testing.TB
	cfg   *rest.Config
	cs    kubernetes.Interface
	etcd  *etcdtest.Server
	store *configdb.Store
	ns    string
	env   settings.Env
	reg   *prometheus.Registry
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	cp := cptest.Get(t)
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = 1000, 2000
	cs := kubernetes.NewForConfigOrDie(cfg)
	ns := fmt.Sprintf("pm-%d", nsCounter.Add(1))
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, cfg: cfg, cs: cs, etcd: etcdtest.Start(t), ns: ns}
	_, store := e.etcd.Store(t)
	e.store = store
	e.env = settings.Default()
	e.env.HelmNamespace, e.env.HelmPrefix = ns, "sdp"
	return e
}

// start runs a pod-monitor as leader until the returned stop is called
// (or the test ends).
func (e *testEnv) start() (stop func()) {
	e.t.Helper()
	store, _ := configdb.NewStore(e.etcd.Client(e.t), "")
	rt := etcdtest.Runtime(e.t, "pod-monitor", e.env, store)
	e.reg = rt.Registry
	lead, err := New(rt, e.cfg, Options{Workers: 4, Resync: time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	return servicetest.RunLead(e.t, rt.Context(), lead)
}

func (e *testEnv) deployment(id string) {
	e.t.Helper()
	if err := e.store.PutDeployment(context.Background(), configdb.Deployment{ID: id, Kind: "helm", Chart: "c"}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) pod(name string, labels map[string]string, finalizers ...string) *corev1.Pod {
	e.t.Helper()
	p, err := e.cs.CoreV1().Pods(e.ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Finalizers: finalizers},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/x"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// setStatus writes the pod's phase and Ready condition, as a kubelet does.
func (e *testEnv) setStatus(name string, phase corev1.PodPhase, ready *bool) {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	p.Status.Phase = phase
	p.Status.Conditions = nil
	if ready != nil {
		s := corev1.ConditionFalse
		if *ready {
			s = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: s}}
	}
	if _, err := e.cs.CoreV1().Pods(e.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) waitPods(id, what string, cond func(pods map[string]configdb.PodStatus, found bool) bool) {
	e.t.Helper()
	eventually.Eventually(e.t, 20*time.Second, func() error {
		st, found, err := e.store.GetState(context.Background(), id)
		if err != nil || !cond(st.Pods, found) {
			return fmt.Errorf("%s: waiting for %s; last: found %v pods %v (error %v)", id, what, found, st.Pods, err)
		}
		return nil
	})
}

func is(pod string, want configdb.PodStatus) func(map[string]configdb.PodStatus, bool) bool {
	return func(pods map[string]configdb.PodStatus, _ bool) bool { return pods[pod] == want }
}

func instance(release string) map[string]string {
	return map[string]string{podstatus.LabelInstance: release}
}

func TestEveryMappingRow(t *testing.T) {
	e := newEnv(t)
	e.deployment("d1")
	e.start()
	yes, no := true, false
	e.pod("p", instance("sdp-d1"), "test.sdp/hold")
	e.waitPods("d1", "new pod UNSET (no phase yet)", func(p map[string]configdb.PodStatus, _ bool) bool {
		return p["p"] == configdb.PodUnset || p["p"] == configdb.PodPending
	})
	rows := []struct {
		phase corev1.PodPhase
		ready *bool
		want  configdb.PodStatus
	}{
		{corev1.PodPending, nil, configdb.PodPending},
		{corev1.PodRunning, &no, configdb.PodPending},
		{corev1.PodRunning, nil, configdb.PodPending},
		{corev1.PodRunning, &yes, configdb.PodRunning},
		{corev1.PodUnknown, nil, configdb.PodUnset},
		{corev1.PodSucceeded, nil, configdb.PodFinished},
		{corev1.PodFailed, nil, configdb.PodFailed},
	}
	for _, r := range rows {
		e.setStatus("p", r.phase, r.ready)
		e.waitPods("d1", fmt.Sprintf("%s (ready %v) → %s", r.phase, r.ready, r.want), is("p", r.want))
	}
	// Deleted before it ended: CANCELLED while it goes, then out of the map.
	e.pod("q", map[string]string{podstatus.LabelRelease: "sdp-d1"}, "test.sdp/hold")
	e.setStatus("q", corev1.PodRunning, &yes)
	e.waitPods("d1", "q running (release label)", is("q", configdb.PodRunning))
	ctx := context.Background()
	if err := e.cs.CoreV1().Pods(e.ns).Delete(ctx, "q", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitPods("d1", "q CANCELLED", is("q", configdb.PodCancelled))
	for _, name := range []string{"q", "p"} {
		if err := e.cs.CoreV1().Pods(e.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.cs.CoreV1().Pods(e.ns).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.waitPods("d1", "gone pods leave the map", func(p map[string]configdb.PodStatus, found bool) bool { return found && len(p) == 0 })
	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

func TestStateOwnershipAndOrphans(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Pods that exist before their deployment, and before the monitor.
	e.pod("early", instance("sdp-late"))
	e.setStatus("early", corev1.PodPending, nil)
	e.pod("ghost-pod", instance("sdp-ghost"))
	e.pod("unlabelled", nil)
	e.pod("bad-id", instance("sdp-bad_id"))
	e.pod("foreign", instance("other-x"))
	// A state entry written by the release-manager and another tool.
	e.deployment("kept")
	key := e.store.Layout().StateKey("kept")
	if _, err := e.store.Client().Put(ctx, key, `{"release": {"status": "deployed", "x_extra": 1}, "other_tool": [1, 2]}`); err != nil {
		t.Fatal(err)
	}
	e.pod("k", instance("sdp-kept"))
	e.start()
	e.waitPods("kept", "pods of kept", is("k", configdb.PodPending))
	raw, err := e.store.Client().Get(ctx, key)
	if err != nil || !strings.Contains(string(raw.Kvs[0].Value), `"x_extra": 1`) || !strings.Contains(string(raw.Kvs[0].Value), `"other_tool": [`) {
		t.Errorf("release part or unknown field lost: %s %v", raw.Kvs[0].Value, err)
	}
	// No state for a deployment without an entry, whatever its pods do.
	e.setStatus("ghost-pod", corev1.PodRunning, nil)
	time.Sleep(500 * time.Millisecond)
	if _, found, _ := e.store.GetState(ctx, "ghost"); found {
		t.Error("state created for a deployment without an entry")
	}
	// A deployment written after its pods gets their map.
	e.deployment("late")
	e.waitPods("late", "map of pods that already existed", is("early", configdb.PodPending))
	// A deleted deployment's state goes and is not brought back by its pods.
	if _, err := e.store.Client().Delete(ctx, e.store.Layout().DeploymentKey("late")); err != nil {
		t.Fatal(err)
	}
	e.waitPods("late", "orphan state removed", func(_ map[string]configdb.PodStatus, found bool) bool { return !found })
	e.setStatus("early", corev1.PodFailed, nil)
	time.Sleep(500 * time.Millisecond)
	if _, found, _ := e.store.GetState(ctx, "late"); found {
		t.Error("a deleted deployment's state came back with a pod change")
	}
	// Only pods of deployments were ever written.
	ids, _, _ := e.store.StateIDs(ctx)
	if fmt.Sprint(ids) != "[kept]" {
		t.Errorf("state entries %v, want [kept]", ids)
	}
}

func TestRestartAndCompaction(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.deployment("d")
	e.pod("a", instance("sdp-d"))
	stop := e.start()
	e.waitPods("d", "a", is("a", configdb.PodPending))
	stop()
	// While the monitor is away: changes in the cluster and in the DB, an
	// orphan state, and history compacted past its revision.
	e.setStatus("a", corev1.PodUnknown, nil)
	e.pod("b", instance("sdp-d"))
	if _, err := e.store.Client().Put(ctx, e.store.Layout().StateKey("gone"), `{"pods": {"x": "RUNNING"}}`); err != nil {
		t.Fatal(err)
	}
	e.etcd.Compact(t, e.store.Client())
	e.start()
	e.waitPods("d", "changes made while away", func(p map[string]configdb.PodStatus, _ bool) bool {
		return p["a"] == configdb.PodUnset && p["b"] == configdb.PodPending
	})
	e.waitPods("gone", "orphan from before the start removed", func(_ map[string]configdb.PodStatus, found bool) bool { return !found })
	// etcd away for a while: converges after.
	e.etcd.Stop()
	e.setStatus("b", corev1.PodFailed, nil)
	time.Sleep(2 * time.Second)
	e.etcd.Restart()
	e.waitPods("d", "change made while etcd was away", is("b", configdb.PodFailed))
}
