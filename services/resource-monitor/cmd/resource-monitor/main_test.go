package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/nadtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

func TestBinary(t *testing.T) {
	cp := cptest.Get(t)
	nadtest.InstallCRD(t, cp.RESTConfig())
	bin := servicetest.Build(t, ".")
	ctx := context.Background()
	dyn := dynamic.NewForConfigOrDie(cp.RESTConfig())
	cs := kubernetes.NewForConfigOrDie(cp.RESTConfig())

	t.Run("lifecycle", func(t *testing.T) {
		servicetest.CheckBinary(t, bin, "resource-monitor", "KUBECONFIG="+cp.KubeconfigPath)
	})

	t.Run("the example NADs, then two replicas: one acts, the other takes over", func(t *testing.T) {
		// deploy/examples, as make run applies them.
		for _, o := range nadtest.Objects(t, nadtest.RepoFile(t, "deploy/namespace.yaml")) {
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.GetName()}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		for _, o := range nadtest.Objects(t, nadtest.RepoFile(t, "deploy/examples/network-attachment-definitions.yaml")) {
			if _, err := dyn.Resource(nadcache.GVR).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		srv := etcdtest.Start(t)
		_, store := srv.Store(t)
		env := []string{"KUBECONFIG=" + cp.KubeconfigPath, "SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port)}
		a := servicetest.Start(t, bin, env, "--leader-ttl=2s")
		b := servicetest.Start(t, bin, env, "--leader-ttl=2s")
		want := []string{"network-attachment-definition:sdp:vis-net-a", "network-attachment-definition:sdp:vis-net-b", "supernet:vis-supernet"}
		list := waitEntries(t, store, want)
		if sn := list.Resources["supernet:vis-supernet"].(configdb.SupernetResource); sn.CIDR != "10.50.0.0/22" || strings.Join(sn.Members, ",") != "sdp/vis-net-a,sdp/vis-net-b" {
			t.Errorf("supernet entry %+v", sn)
		}
		leader := servicetest.OneLeader(t, a, b)
		if m, err := leader.Metrics(); err != nil {
			t.Error(err)
		} else if v, _ := m.Value("sdp_helmdeploy_resource_monitor_nads_mirrored"); v != 2 {
			t.Errorf("leader's metrics do not count 2 NADs mirrored")
		}
		leader.Kill()
		start := time.Now()
		if err := dyn.Resource(nadcache.GVR).Namespace("sdp").Delete(ctx, "vis-net-b", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitEntries(t, store, want[:1], "supernet:vis-supernet")
		t.Logf("NAD deletion mirrored by the standby %v after kill -9 of the leader (lease 2s)", time.Since(start))
	})
}

// waitEntries waits until the owned entries are exactly ids, plus those
// named in extra.
func waitEntries(t *testing.T, store *configdb.Store, ids []string, extra ...string) configdb.ResourceList {
	t.Helper()
	want := map[string]bool{}
	for _, id := range append(append([]string{}, ids...), extra...) {
		want[id] = true
	}
	var list configdb.ResourceList
	eventually.Eventually(t, 30*time.Second, func() error {
		var err error
		list, err = store.ListResources(context.Background())
		if err == nil && len(list.Resources) == len(want) {
			ok := true
			for id := range want {
				ok = ok && list.Resources[id] != nil
			}
			if ok {
				return nil
			}
		}
		return fmt.Errorf("entries never became %v; last %v (%v)", want, list.Resources, err)
	})
	return list
}
