package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

func namespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestBinary(t *testing.T) {
	cp := cptest.Get(t)
	bin := servicetest.Build(t, ".")
	cs := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	namespace(t, cs, "rm-lifecycle")

	t.Run("lifecycle", func(t *testing.T) {
		servicetest.CheckBinary(t, bin, "release-manager", "KUBECONFIG="+cp.KubeconfigPath, "SDP_HELM_NAMESPACE=rm-lifecycle")
	})

	// A release-manager killed in the middle of an install leaves the
	// release pending-install; the next one unlocks it and moves on.
	t.Run("recovers a release left pending by a kill", func(t *testing.T) {
		namespace(t, cs, "rm-kill")
		repo := testrepo.NewRepo(t)
		// The hook Job never completes (no kubelet here), so Helm waits in
		// pending-install until killed.
		repo.Add(testrepo.New("hangs", "0.1.0", nil, map[string]string{
			"hook.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-hook\n  annotations:\n    helm.sh/hook: pre-install\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: registry.invalid/x\n",
		}))
		repo.Add(testrepo.New("quick", "0.1.0", nil, map[string]string{
			"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
		}))
		srv := etcdtest.Start(t)
		_, store := srv.Store(t)
		env := []string{"KUBECONFIG=" + cp.KubeconfigPath, "SDP_HELM_NAMESPACE=rm-kill", "SDP_HELM_PREFIX=sdp",
			"SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port), "SDP_CHART_REPO_URL=" + repo.URL, "SDP_HELM_TIMEOUT=120"}
		ctx := context.Background()
		if err := store.CreateDeployment(ctx, configdb.Deployment{ID: "crash", Kind: "helm", Chart: "hangs"}); err != nil {
			t.Fatal(err)
		}
		p := servicetest.Start(t, bin, env, "--leader-ttl=2s")
		waitRelease(t, store, "crash", func(r *configdb.ReleaseStatus) bool { return r.Status == configdb.ReleasePendingInstall })
		// Helm has written its pending-install record by now or will in
		// a moment; wait for the Secret, then kill -9.
		eventually.True(t, 60*time.Second, "pending-install release secret", func() bool {
			l, err := cs.CoreV1().Secrets("rm-kill").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=sdp-crash,status=pending-install"})
			return err == nil && len(l.Items) == 1
		})
		p.Kill()
		// The entry is fixed to a chart that installs; the new process must
		// unlock the stuck revision and upgrade from it.
		if err := store.PutDeployment(ctx, configdb.Deployment{ID: "crash", Kind: "helm", Chart: "quick"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		p2 := servicetest.Start(t, bin, env, "--leader-ttl=2s")
		rel := waitRelease(t, store, "crash", func(r *configdb.ReleaseStatus) bool { return r.Status == "deployed" })
		t.Logf("recovered in %v (leadership lease of the killed process included)", time.Since(start))
		if rel.Revision != 2 || rel.Chart != "quick" || rel.Error != "" {
			t.Errorf("release part %+v, want revision 2 of quick", rel)
		}
		if code := p2.Stop(t, 15*time.Second); code != 0 {
			t.Errorf("exit code %d", code)
		}
		if !strings.Contains(p2.Logs(), `"action":"unlock"`) {
			t.Errorf("no unlock logged:\n%s", p2.Logs())
		}
	})
}

// Two replicas: one leads and acts; when it dies, the other takes over.
func TestTwoReplicas(t *testing.T) {
	cp := cptest.Get(t)
	bin := servicetest.Build(t, ".")
	cs := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	namespace(t, cs, "rm-replicas")
	repo := testrepo.NewRepo(t)
	repo.Add(testrepo.New("quick", "0.1.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	}))
	srv := etcdtest.Start(t)
	_, store := srv.Store(t)
	env := []string{"KUBECONFIG=" + cp.KubeconfigPath, "SDP_HELM_NAMESPACE=rm-replicas",
		"SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port), "SDP_CHART_REPO_URL=" + repo.URL}
	a := servicetest.Start(t, bin, env, "--leader-ttl=2s")
	b := servicetest.Start(t, bin, env, "--leader-ttl=2s")
	ctx := context.Background()
	for i := range 5 {
		if err := store.CreateDeployment(ctx, configdb.Deployment{ID: fmt.Sprintf("r%d", i), Kind: "helm", Chart: "quick"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		waitRelease(t, store, fmt.Sprintf("r%d", i), func(r *configdb.ReleaseStatus) bool { return r.Status == "deployed" })
	}
	leader, standby := servicetest.OneLeader(t, a, b), a
	if leader == a {
		standby = b
	}
	if strings.Contains(standby.Logs(), `"msg":"helm action done"`) {
		t.Error("the standby replica ran Helm actions")
	}
	l, _ := cs.CoreV1().Secrets("rm-replicas").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm"})
	if len(l.Items) != 5 {
		t.Errorf("%d release revisions, want 5 (one per deployment)", len(l.Items))
	}
	start := time.Now()
	leader.Kill()
	if err := store.CreateDeployment(ctx, configdb.Deployment{ID: "after-failover", Kind: "helm", Chart: "quick"}); err != nil {
		t.Fatal(err)
	}
	waitRelease(t, store, "after-failover", func(r *configdb.ReleaseStatus) bool { return r.Status == "deployed" })
	t.Logf("failover after kill -9 of the leader (lease 2s): deployed by the standby %v after the kill", time.Since(start))
}

func waitRelease(t *testing.T, store *configdb.Store, id string, cond func(*configdb.ReleaseStatus) bool) *configdb.ReleaseStatus {
	t.Helper()
	var last *configdb.ReleaseStatus
	eventually.True(t, 60*time.Second, "release state of "+id, func() bool {
		st, _, err := store.GetState(context.Background(), id)
		last = st.Release
		return err == nil && st.Release != nil && cond(st.Release)
	})
	return last
}
