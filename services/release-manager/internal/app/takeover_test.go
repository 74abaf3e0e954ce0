package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/reconciler"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/helmtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/logtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// podChart is a processing chart in small: a Pod (on kwok's node, so it
// runs without a scheduler) and a ConfigMap holding the values, so that an
// upgrade changes the ConfigMap and leaves the Pod as it is.
var podChart = testrepo.New("receive", "0.1.0", map[string]any{"message": "default", "port": 9000}, map[string]string{
	"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  message: {{ .Values.message | quote }}\n  port: {{ .Values.port | quote }}\n",
	"pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    app.kubernetes.io/instance: {{ .Release.Name }}\nspec:\n" +
		"  nodeName: " + localcp.KwokNodeName + "\n  containers:\n    - name: receive\n      image: registry.invalid/sdp/receive:0.1.0\n",
})

// TestTakeoverOfPythonReleases: releases installed as the Python deployer
// installs them (Helm, no labels, <prefix>-<id> names, values from the
// entry), their entries in etcd and their pods running; then the
// release-manager starts. An unchanged release is adopted with no new
// revision and the same pod; a changed entry is upgraded exactly once; an
// unlabelled release with no entry is kept and reported, or uninstalled
// with the setting.
func TestTakeoverOfPythonReleases(t *testing.T) {
	for _, uninstall := range []bool{false, true} {
		t.Run(fmt.Sprintf("uninstall-unowned=%v", uninstall), func(t *testing.T) {
			// A control plane of its own, with kwok playing the kubelet so
			// that the pods run.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			own := cptest.Start(t, ctx, localcp.Options{Kwok: true})
			e := newEnv(t)
			e.cfg = own.RESTConfig()
			e.cs = kubernetes.NewForConfigOrDie(e.cfg)
			if _, err := e.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			e.repo.Add(podChart)
			cfg := helmtest.HelmConfig(t, own, e.ns)
			entries := map[string]string{
				"same":    `{"message": "hello", "port": 9001}`,
				"changed": `{"message": "old", "port": 9002}`,
				"orphan":  `{"message": "left", "port": 9003}`,
			}
			for id, values := range entries {
				pythonInstall(t, cfg, e.ns, e.env.HelmPrefix+"-"+id, values)
			}
			uids := map[string]types.UID{}
			for id := range entries {
				uids[id] = e.waitPodRunning(e.env.HelmPrefix + "-" + id)
			}
			e.put("same", entry("same", "receive", entries["same"]))
			e.put("changed", entry("changed", "receive", `{"message": "new", "port": 9002}`))

			var logs logtest.Buffer
			rt := etcdtest.Runtime(t, "release-manager", e.env, e.newStore())
			rt.Log = slog.New(slog.NewJSONHandler(&logs, nil))
			rcfg := rest.CopyConfig(e.cfg)
			rcfg.QPS, rcfg.Burst = 1000, 2000
			lead, err := New(rt, rcfg, Options{PlainHTTPRegistry: true, CacheDir: t.TempDir(), Resync: time.Minute,
				Reconciler: reconciler.Options{UninstallUnowned: uninstall}})
			if err != nil {
				t.Fatal(err)
			}
			stop := servicetest.RunLead(t, rt.Context(), lead)
			defer stop() // before the control plane goes

			e.waitState("same", "adopted", deployedAt(1))
			e.waitState("changed", "upgraded", deployedAt(2))
			e.waitOwned("sdp-same")
			if cm, err := e.configMap("sdp-changed"); err != nil || cm.Data["message"] != "new" {
				t.Errorf("changed entry: configmap %v %v, want message new", cm, err)
			}
			orphanGone := func() bool { return e.revisions("sdp-orphan") == 0 }
			if uninstall {
				e.poll("unowned release with no entry uninstalled", orphanGone)
			}
			wantUnowned := 1.0
			if uninstall {
				wantUnowned = 0
			}
			e.poll("unowned_releases gauge", func() bool { return unownedGauge(t, rt) == wantUnowned })
			if !uninstall {
				e.poll("unowned release reported in the log", func() bool {
					return strings.Contains(logs.String(), `"msg":"release without this deployer's label and with no helm entry","release":"sdp-orphan"`)
				})
			}
			// Settled: a resync more would show a late action.
			time.Sleep(2 * time.Second)
			for _, c := range []struct {
				name string
				revs int
			}{{"sdp-same", 1}, {"sdp-changed", 2}, {"sdp-orphan", map[bool]int{false: 1, true: 0}[uninstall]}} {
				if n := e.revisions(c.name); n != c.revs {
					t.Errorf("%s: %d revisions, want %d", c.name, n, c.revs)
				}
			}
			for _, id := range []string{"same", "changed"} {
				pod, err := e.cs.CoreV1().Pods(e.ns).Get(context.Background(), "sdp-"+id, metav1.GetOptions{})
				if err != nil || pod.UID != uids[id] {
					t.Errorf("%s: pod %v (error %v), want the same pod (uid %s)", id, podUID(pod), err, uids[id])
				}
			}
			if n := strings.Count(logs.String(), `"release":"sdp-orphan"`); !uninstall && n != 1 {
				t.Errorf("unowned release reported %d times in the log, want once", n)
			}
		})
	}
}

// pythonInstall installs podChart as the Python deployer does: Helm with
// the values of the entry (read from YAML, as its values file is), and no
// labels on the release.
func pythonInstall(t *testing.T, cfg *action.Configuration, ns, name, valuesJSON string) {
	t.Helper()
	// As `helm install -f values.yaml` reads its file.
	values, err := chartutil.ReadValues([]byte(valuesJSON))
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace, in.Timeout = name, ns, time.Minute
	if _, err := in.Run(podChart, values); err != nil {
		t.Fatalf("python-style install of %s: %v", name, err)
	}
}

func podUID(p *corev1.Pod) types.UID {
	if p == nil {
		return ""
	}
	return p.UID
}

func (e *testEnv) waitPodRunning(name string) types.UID {
	e.t.Helper()
	var uid types.UID
	e.poll("pod "+name+" running", func() bool {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil || p.Status.Phase != corev1.PodRunning {
			return false
		}
		uid = p.UID
		return true
	})
	return uid
}

// waitOwned waits until the latest release Secret of name carries our
// label.
func (e *testEnv) waitOwned(name string) {
	e.t.Helper()
	e.poll(name+" labelled ours", func() bool {
		list, err := e.cs.CoreV1().Secrets(e.ns).List(context.Background(), metav1.ListOptions{
			LabelSelector: "owner=helm,name=" + name + ",sdp.skao.int/managed-by=sdp-helm-deployer"})
		return err == nil && len(list.Items) == 1
	})
}

func (e *testEnv) poll(what string, cond func() bool) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 60*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		e.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// unownedGauge reads sdp_helmdeploy_release_manager_unowned_releases
// from the service's registry.
func unownedGauge(t *testing.T, rt *service.Runtime) float64 {
	t.Helper()
	mfs, err := rt.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sdp_helmdeploy_release_manager_unowned_releases" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no sdp_helmdeploy_release_manager_unowned_releases gauge")
	return 0
}
