package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podstatus"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

func TestBinary(t *testing.T) {
	cp := cptest.Get(t)
	bin := servicetest.Build(t, ".")
	cs := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pm-bin"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Run("lifecycle", func(t *testing.T) {
		servicetest.CheckBinary(t, bin, "pod-monitor", "KUBECONFIG="+cp.KubeconfigPath, "SDP_HELM_NAMESPACE=pm-bin")
	})

	t.Run("two replicas, one acts, the other takes over", func(t *testing.T) {
		srv := etcdtest.Start(t)
		_, store := srv.Store(t)
		env := []string{"KUBECONFIG=" + cp.KubeconfigPath, "SDP_HELM_NAMESPACE=pm-bin",
			"SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port)}
		a := servicetest.Start(t, bin, env, "--leader-ttl=2s")
		b := servicetest.Start(t, bin, env, "--leader-ttl=2s")
		if err := store.PutDeployment(ctx, configdb.Deployment{ID: "rep", Kind: "helm", Chart: "c"}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CoreV1().Pods("pm-bin").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "rep-0", Labels: map[string]string{podstatus.LabelInstance: "rep"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/x"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPods(t, store, "rep", "rep-0")
		leader := servicetest.OneLeader(t, a, b)
		leader.Kill()
		start := time.Now()
		if _, err := cs.CoreV1().Pods("pm-bin").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "rep-1", Labels: map[string]string{podstatus.LabelInstance: "rep"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/x"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPods(t, store, "rep", "rep-1")
		t.Logf("pod reported by the standby %v after kill -9 of the leader (lease 2s)", time.Since(start))
	})
}

func waitPods(t *testing.T, store *configdb.Store, id, pod string) {
	t.Helper()
	eventually.Eventually(t, 30*time.Second, func() error {
		st, _, err := store.GetState(context.Background(), id)
		if err == nil && st.Pods[pod] != "" {
			return nil
		}
		return fmt.Errorf("pod %s never reported in %s's state (%v)", pod, id, err)
	})
}
