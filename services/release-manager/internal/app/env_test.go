// The app tests' environment: a release-manager run in-process against a
// real etcd and control plane, with helpers to write entries and wait on
// state entries and releases.

package app

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/reconciler"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

type testEnv struct {
	t     testing.TB
	cs    kubernetes.Interface
	etcd  *etcdtest.Server
	store *configdb.Store
	repo  *testrepo.Repo
	oci   *testrepo.Registry
	ns    string
	env   settings.Env
	rt    *service.Runtime
	cfg   *rest.Config // of the control plane the release-manager talks to
	// driftMode is start's --drift-mode; empty: the default.
	driftMode string
}

var nsCounter atomic.Int32

var cmChart = testrepo.New("cm", "0.1.0", map[string]any{"replicas": 1, "worker": map[string]any{"threads": 1}}, map[string]string{
	"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    app.kubernetes.io/instance: {{ .Release.Name }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n  threads: {{ .Values.worker.threads | quote }}\n",
})

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	cp := cptest.Get(t)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	if len(ns) > 45 {
		ns = ns[:45]
	}
	ns = fmt.Sprintf("%s-%d", strings.Trim(ns, "-"), nsCounter.Add(1))
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, cs: cs, etcd: etcdtest.Start(t), repo: testrepo.NewRepo(t), oci: testrepo.NewRegistry(t), ns: ns, cfg: cp.RESTConfig()}
	e.repo.Add(cmChart)
	e.repo.Add(testrepo.LoadDir(t, "../../../../charts/examples/demo-receive"))
	e.repo.Add(testrepo.New("cluster", "0.1.0", nil, map[string]string{
		"cr.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {{ .Release.Name }}\n",
	}))
	e.repo.Add(testrepo.New("elsewhere", "0.1.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: default\n",
	}))
	e.repo.Add(testrepo.New("named", "0.1.0", map[string]any{"name": "x"}, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n",
	}))
	strict := testrepo.New("strict", "0.1.0", map[string]any{"replicas": 1}, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	})
	strict.Schema = []byte(`{"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1}}}`)
	e.repo.Add(strict)
	e.env = settings.Default()
	e.env.HelmNamespace, e.env.HelmPrefix, e.env.ChartRepoURL = ns, "sdp", e.repo.URL
	e.env.HelmTimeout = 30 * time.Second
	e.env.ChartRepoRefresh = time.Second
	e.store = e.newStore()
	return e
}

func (e *testEnv) newStore() *configdb.Store {
	s, err := configdb.NewStore(e.etcd.Client(e.t), "")
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// start runs a release-manager as the leader; stop it with the returned
// function (also called at the end of the test).
func (e *testEnv) start() (stop func()) {
	e.t.Helper()
	return e.startKubeWith(func(*rest.Config) {})
}

// startKubeWith is start with the Kubernetes client configuration
// changed by change first.
func (e *testEnv) startKubeWith(change func(*rest.Config)) (stop func()) {
	e.t.Helper()
	rt := etcdtest.Runtime(e.t, "release-manager", e.env, e.newStore())
	e.rt = rt
	workers, _ := strconv.Atoi(os.Getenv("SDP_BENCH_WORKERS"))
	cfg := rest.CopyConfig(e.cfg)
	// As kube.Options sets it for the service.
	cfg.QPS, cfg.Burst = 1000, 2000
	change(cfg)
	lead, err := New(rt, cfg, Options{PlainHTTPRegistry: true, CacheDir: e.t.TempDir(), Resync: time.Minute,
		Reconciler: reconciler.Options{Workers: workers, DriftMode: e.driftMode}})
	if err != nil {
		e.t.Fatal(err)
	}
	return servicetest.RunLead(e.t, rt.Context(), lead)
}

func (e *testEnv) put(id, body string) {
	e.t.Helper()
	if _, err := e.store.Client().Put(context.Background(), e.store.Layout().DeploymentKey(id), body); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) del(id string) {
	e.t.Helper()
	if _, err := e.store.Client().Delete(context.Background(), e.store.Layout().DeploymentKey(id)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) waitState(id string, what string, cond func(st configdb.DeploymentState, found bool) bool) configdb.DeploymentState {
	e.t.Helper()
	var st configdb.DeploymentState
	eventually.Eventually(e.t, 60*time.Second, func() error {
		var found bool
		var err error
		st, found, err = e.store.GetState(context.Background(), id)
		if err != nil || !cond(st, found) {
			return fmt.Errorf("%s: waiting for %s; last: found %v release %+v (error %v)", id, what, found, st.Release, err)
		}
		return nil
	})
	return st
}

func deployedAt(rev int) func(configdb.DeploymentState, bool) bool {
	return func(st configdb.DeploymentState, _ bool) bool {
		return st.Release != nil && st.Release.Status == "deployed" && st.Release.Revision == rev && st.Release.Error == ""
	}
}

func hasError(st configdb.DeploymentState, _ bool) bool {
	return st.Release != nil && st.Release.Error != ""
}

// revisions counts a release's revisions as Helm stores them: Secrets.
func (e *testEnv) revisions(name string) int {
	e.t.Helper()
	list, err := e.cs.CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + name})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(list.Items)
}

func (e *testEnv) configMap(name string) (*corev1.ConfigMap, error) {
	return e.cs.CoreV1().ConfigMaps(e.ns).Get(context.Background(), name, metav1.GetOptions{})
}

func entry(id, chartRef, values string) string {
	return fmt.Sprintf(`{"key": %q, "kind": "helm", "args": {"chart": %q, "values": %s}}`, id, chartRef, values)
}
