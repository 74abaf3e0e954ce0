//go:build unix

package chartcheck

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// binDir holds the service binaries built once per test binary (TestMain).
var (
	binDir   string
	binMu    sync.Mutex
	binBuilt = map[string]string{}
)

// serviceBinary builds services/<svc>/cmd/<svc> once per test binary.
func serviceBinary(t *testing.T, svc string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if bin, ok := binBuilt[svc]; ok {
		return bin
	}
	bin := filepath.Join(binDir, svc)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(repoRoot(), "services", svc, "cmd", svc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", svc, err, out)
	}
	binBuilt[svc] = bin
	return bin
}

var nadGVR = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}

// The rights the charts grant are enough: each binary runs with the args
// and env of the Deployment the umbrella chart installed, authenticated as
// that Deployment's ServiceAccount (a token from the TokenRequest API), and
// does its whole job — release-manager installs and uninstalls a release
// in the processing namespace, pod-monitor reports its pod, resource-monitor
// mirrors a NAD of another namespace — with no request refused.
func TestServicesWorkWithChartRights(t *testing.T) {
	cp := cptest.Get(t)
	cfg := cp.RESTConfig()
	cs := kubernetes.NewForConfigOrDie(cfg)
	installUmbrella(t, cp, []string{"global.helm.namespace=" + processingNS})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := manifests.Apply(ctx, cfg, filepath.Join(repoRoot(), "deploy", "crds"), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("apply deploy/crds: %v", err)
	}
	etcd := etcdtest.Start(t)
	prefix := fmt.Sprintf("/rights%d", time.Now().UnixNano())

	procs := map[string]*servicetest.Proc{}
	for _, svc := range services {
		name := releaseName + "-" + svc
		d, err := cs.AppsV1().Deployments(systemNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := d.Spec.Template.Spec.Containers[0]
		kubeconfig := serviceAccountKubeconfig(t, cp, cs, d.Spec.Template.Spec.ServiceAccountName)
		// The pod's env, but the config DB of this test and a HOME of its
		// own; later entries win.
		var env []string
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				env = append(env, e.Name+"="+e.Value)
			}
		}
		env = append(env, "SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", etcd.Port), "SDP_CONFIG_PREFIX="+prefix, "HOME="+t.TempDir())
		args := append(append([]string{}, c.Args...), "--kubeconfig="+kubeconfig)
		if svc == "release-manager" {
			args = append(args, "--cache-dir="+t.TempDir())
		}
		procs[svc] = servicetest.Start(t, serviceBinary(t, svc), env, args...)
	}
	for _, p := range procs {
		p.WaitFor(t, "/readyz", 200, "ok", 90*time.Second)
	}

	store, err := configdb.NewStore(etcd.Client(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	const id = "rights"
	if err := store.PutDeployment(ctx, configdb.Deployment{ID: id, Kind: configdb.KindHelm, Chart: testrepo.WritePodChart(t, "dash-pod")}); err != nil {
		t.Fatal(err)
	}
	waitState(t, store, id, "release deployed and its pod reported", func(st configdb.DeploymentState, found bool) bool {
		return found && st.Release != nil && st.Release.Status == "deployed" && st.Pods[id+"-0"] == configdb.PodPending
	})
	// A chart with a PersistentVolume, the default allowed cluster-scoped
	// kind: the chart's ClusterRole is enough for Helm to make and remove it.
	const pvID = "rights-pv"
	if err := store.PutDeployment(ctx, configdb.Deployment{ID: pvID, Kind: configdb.KindHelm,
		Chart: filepath.Join(repoRoot(), "charts", "examples", "demo-receive-volume")}); err != nil {
		t.Fatal(err)
	}
	waitState(t, store, pvID, "release with a PersistentVolume deployed", func(st configdb.DeploymentState, found bool) bool {
		return found && st.Release != nil && st.Release.Status == "deployed"
	})
	if _, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvID+"-output", metav1.GetOptions{}); err != nil {
		t.Errorf("the chart's PersistentVolume: %v", err)
	}
	if _, err := store.DeleteDeployment(ctx, pvID); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, 60*time.Second, "the release's PersistentVolume deleted", func() bool {
		p, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvID+"-output", metav1.GetOptions{})
		return apierrors.IsNotFound(err) || err == nil && p.DeletionTimestamp != nil
	})

	nad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
		"metadata": map[string]any{"name": "rights-net", "namespace": otherNS, "labels": map[string]any{"sdp.skao.int/available-for-allocation": "true"}},
		"spec": map[string]any{"config": `{"cniVersion": "0.3.1", "name": "rights-net", "type": "macvlan", "master": "eth1",
			"ipam": {"type": "host-local", "subnet": "10.77.0.0/24", "rangeStart": "10.77.0.10", "rangeEnd": "10.77.0.20", "gateway": "10.77.0.1"}}`},
	}}
	dyn := dynamic.NewForConfigOrDie(cfg)
	_ = dyn.Resource(nadGVR).Namespace(otherNS).Delete(ctx, "rights-net", metav1.DeleteOptions{})
	if _, err := dyn.Resource(nadGVR).Namespace(otherNS).Create(ctx, nad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(nadGVR).Namespace(otherNS).Delete(context.Background(), "rights-net", metav1.DeleteOptions{})
	})
	eventually.True(t, 90*time.Second, "the NAD of another namespace mirrored", func() bool {
		list, err := store.ListResources(ctx)
		if err != nil {
			return false
		}
		for _, r := range list.Resources {
			if n, ok := r.(configdb.NetworkResource); ok && n.Namespace == otherNS && n.Name == "rights-net" && n.Subnet == "10.77.0.0/24" {
				return true
			}
		}
		return false
	})

	// Gone from the config DB: the release is uninstalled (delete rights)
	// and the state entry removed.
	if _, err := store.DeleteDeployment(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitState(t, store, id, "state removed", func(_ configdb.DeploymentState, found bool) bool { return !found })
	eventually.True(t, 90*time.Second, "the release's pod deleted", func() bool {
		p, err := cs.CoreV1().Pods(processingNS).Get(ctx, id+"-0", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true
		}
		// No kubelet: a pod being deleted is removed by hand.
		if err == nil && p.DeletionTimestamp != nil {
			_ = cs.CoreV1().Pods(processingNS).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}
		return false
	})

	for svc, p := range procs {
		if code := p.Stop(t, 30*time.Second); code != 0 {
			t.Errorf("%s exit code %d after SIGTERM", svc, code)
		}
		if logs := p.Logs(); strings.Contains(logs, "forbidden") {
			t.Errorf("%s was refused a request with the chart's rights:\n%s", svc, logs)
		}
	}
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount, as the pod's projected token would.
func serviceAccountKubeconfig(t *testing.T, cp *localcp.ControlPlane, cs kubernetes.Interface, sa string) string {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts(systemNS).CreateToken(context.Background(), sa,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of %s: %v", sa, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cp"] = &clientcmdapi.Cluster{Server: cp.APIServerURL, CertificateAuthorityData: cp.CACertPEM}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "cp", AuthInfo: sa, Namespace: systemNS}
	kc.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitState(t *testing.T, store *configdb.Store, id, what string, ok func(configdb.DeploymentState, bool) bool) {
	t.Helper()
	eventually.Eventually(t, 90*time.Second, func() error {
		st, found, err := store.GetState(context.Background(), id)
		if err == nil && ok(st, found) {
			return nil
		}
		return fmt.Errorf("waiting for %s; last state %+v (found %v, error %v)", what, st, found, err)
	})
}
