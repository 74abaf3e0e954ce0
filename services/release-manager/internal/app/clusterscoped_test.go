package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// startAllowing runs a release-manager as the leader with the given
// cluster-scoped kinds allowed, as --allowed-cluster-kinds sets them.
func (e *testEnv) startAllowing(kinds string) {
	e.t.Helper()
	e.rt = etcdtest.Runtime(e.t, "release-manager", e.env, e.newStore())
	lead, err := New(e.rt, e.cfg, Options{CacheDir: e.t.TempDir(), Resync: time.Minute, ClusterKinds: kinds})
	if err != nil {
		e.t.Fatal(err)
	}
	servicetest.RunLead(e.t, e.rt.Context(), lead)
}

// The test's release-manager talks to the API server as its admin, so
// whatever is refused here is refused by the release-manager itself, not
// by RBAC.
func TestClusterScopedKinds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.repo.Add(testrepo.LoadDir(t, "../../../../charts/examples/demo-receive-volume"))
	pv := func(name string) string {
		return "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: " + name + "\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n  hostPath: {path: /tmp/" + name + "}\n"
	}
	e.repo.Add(testrepo.New("pv-and-cr", "0.1.0", nil, map[string]string{
		"pv.yaml": pv("{{ .Release.Name }}-output"),
		"cr.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {{ .Release.Name }}\n",
	}))
	e.repo.Add(testrepo.New("old-ingress", "0.1.0", nil, map[string]string{
		"ingress.yaml": "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  backend:\n    serviceName: x\n    servicePort: 80\n",
	}))
	e.startAllowing(confine.DefaultKinds)

	// A PersistentVolume next to its claim and Job installs ...
	e.put("pv", entry("pv", "demo-receive-volume", "{}"))
	e.put("pv-and-cr", entry("pv-and-cr", "pv-and-cr", "{}"))
	e.put("old-ingress", entry("old-ingress", "old-ingress", "{}"))
	e.waitState("pv", "installed", deployedAt(1))
	if _, err := e.cs.CoreV1().PersistentVolumes().Get(ctx, "sdp-pv-output", metav1.GetOptions{}); err != nil {
		t.Errorf("the chart's PersistentVolume: %v", err)
	}
	if _, err := e.cs.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, "sdp-pv-output", metav1.GetOptions{}); err != nil {
		t.Errorf("the chart's claim: %v", err)
	}
	if _, err := e.cs.BatchV1().Jobs(e.ns).Get(ctx, "sdp-pv-receive", metav1.GetOptions{}); err != nil {
		t.Errorf("the chart's Job: %v", err)
	}

	// ... but a ClusterRole beside one is still refused, and nothing of
	// that chart is made.
	st := e.waitState("pv-and-cr", "refused", hasError)
	for _, says := range []string{`ClusterRole "sdp-pv-and-cr" is cluster-scoped`, "allowed cluster-scoped kinds: PersistentVolume"} {
		if !strings.Contains(st.Release.Error, says) {
			t.Errorf("pv-and-cr: error %q does not say %q", st.Release.Error, says)
		}
	}
	if strings.Contains(st.Release.Error, "PersistentVolume \"") {
		t.Errorf("pv-and-cr: the allowed PersistentVolume is named as refused: %q", st.Release.Error)
	}
	if _, err := e.cs.RbacV1().ClusterRoles().Get(ctx, "sdp-pv-and-cr", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused chart's ClusterRole: %v, want not found", err)
	}
	if _, err := e.cs.CoreV1().PersistentVolumes().Get(ctx, "sdp-pv-and-cr-output", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused chart's PersistentVolume: %v, want not found", err)
	}

	// An API the cluster does not serve is named, kind and version.
	st = e.waitState("old-ingress", "refused", hasError)
	if want := "chart uses extensions/v1beta1 Ingress, which this cluster does not serve"; !strings.Contains(st.Release.Error, want) {
		t.Errorf("old-ingress: error %q does not say %q", st.Release.Error, want)
	}

	// The release goes, and its PersistentVolume with it.
	e.del("pv")
	e.waitState("pv", "state removed", func(_ configdb.DeploymentState, found bool) bool { return !found })
	waitGone(t, "the release's PersistentVolume", func() error {
		p, err := e.cs.CoreV1().PersistentVolumes().Get(ctx, "sdp-pv-output", metav1.GetOptions{})
		switch {
		case err != nil:
			return err
		case p.DeletionTimestamp != nil:
			// Deleted; only the protection finalizer, waiting for the
			// claim's pods to go, keeps it.
			return nil
		}
		return errors.New("still there")
	})
	if n := e.revisions("sdp-pv"); n != 0 {
		t.Errorf("uninstalled release has %d revisions", n)
	}
}

// waitGone waits until get says not found (or nil: going).
func waitGone(t *testing.T, what string, get func() error) {
	t.Helper()
	eventually.Eventually(t, 60*time.Second, func() error {
		if err := get(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("waiting for %s to go: %w", what, err)
		}
		return nil
	})
}

// With no cluster-scoped kind allowed, the PersistentVolume is refused too.
func TestNoClusterScopedKindAllowed(t *testing.T) {
	e := newEnv(t)
	e.repo.Add(testrepo.LoadDir(t, "../../../../charts/examples/demo-receive-volume"))
	e.startAllowing("")
	e.put("pv-none", entry("pv-none", "demo-receive-volume", "{}"))
	st := e.waitState("pv-none", "refused", hasError)
	for _, says := range []string{`PersistentVolume "sdp-pv-none-output" is cluster-scoped`, "no cluster-scoped kind is allowed"} {
		if !strings.Contains(st.Release.Error, says) {
			t.Errorf("error %q does not say %q", st.Release.Error, says)
		}
	}
	if _, err := e.cs.CoreV1().PersistentVolumes().Get(context.Background(), "sdp-pv-none-output", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the PersistentVolume: %v, want not found", err)
	}
}

// Helm v3 does not post-render hooks: the Kubernetes client of each Helm
// action refuses them before any object is made.
func TestHooksConfined(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hook := func(event, manifest string) string {
		return strings.Replace(manifest, "metadata:\n", "metadata:\n  annotations:\n    helm.sh/hook: "+event+"\n", 1)
	}
	e.repo.Add(testrepo.New("hook-cr", "0.1.0", nil, map[string]string{
		"cr.yaml": hook("pre-install", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {{ .Release.Name }}\n"),
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	}))
	e.repo.Add(testrepo.New("hook-elsewhere", "0.1.0", nil, map[string]string{
		"cm.yaml": hook("post-install", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: default\n"),
	}))
	e.repo.Add(testrepo.New("hook-old-ingress", "0.1.0", nil, map[string]string{
		"ingress.yaml": hook("pre-install", "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  backend:\n    serviceName: x\n    servicePort: 80\n"),
	}))
	e.repo.Add(testrepo.New("hook-ok", "0.1.0", nil, map[string]string{
		"cm.yaml": hook("pre-install", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-hook\n"),
	}))
	e.startAllowing(confine.DefaultKinds)
	for _, id := range []string{"hook-cr", "hook-elsewhere", "hook-old-ingress", "hook-ok"} {
		e.put(id, entry(id, id, "{}"))
	}
	cases := []struct{ id, says string }{
		{"hook-cr", `ClusterRole "sdp-hook-cr" is cluster-scoped`},
		{"hook-elsewhere", `ConfigMap "sdp-hook-elsewhere" is in namespace "default"`},
		{"hook-old-ingress", "chart uses extensions/v1beta1 Ingress, which this cluster does not serve"},
	}
	for _, c := range cases {
		st := e.waitState(c.id, "refused", hasError)
		if !strings.Contains(st.Release.Error, c.says) {
			t.Errorf("%s: error %q does not say %q", c.id, st.Release.Error, c.says)
		}
		if strings.Count(st.Release.Error, c.says) != 1 {
			t.Errorf("%s: error %q says %q more than once", c.id, st.Release.Error, c.says)
		}
	}
	e.waitState("hook-ok", "installed with its hook", deployedAt(1))
	if _, err := e.configMap("sdp-hook-ok-hook"); err != nil {
		t.Errorf("the confined hook's ConfigMap: %v", err)
	}
	if _, err := e.cs.RbacV1().ClusterRoles().Get(ctx, "sdp-hook-cr", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the hook's ClusterRole: %v, want not found", err)
	}
	if _, err := e.configMap("sdp-hook-cr"); !apierrors.IsNotFound(err) {
		t.Errorf("the ConfigMap of the chart whose pre-install hook was refused: %v, want not found", err)
	}
	if _, err := e.cs.CoreV1().ConfigMaps("default").Get(ctx, "sdp-hook-elsewhere", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the hook's ConfigMap in another namespace: %v, want not found", err)
	}
	// Permanent: one attempt, not retried with backoff (the release Helm
	// recorded as failed gets no second revision).
	time.Sleep(3 * time.Second)
	for _, id := range []string{"hook-cr", "hook-elsewhere"} {
		if n := e.revisions("sdp-" + id); n != 1 {
			t.Errorf("%s: %d revisions, want the 1 failed one", id, n)
		}
	}
}
