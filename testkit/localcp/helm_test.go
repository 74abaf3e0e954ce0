//go:build unix

package localcp_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/helmtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

func writeTinyChart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	files := map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: tiny\nversion: 0.1.0\ndescription: one ConfigMap\n",
		"values.yaml": "greeting: hello\n",
		"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-cm
  labels:
    app.kubernetes.io/instance: {{ .Release.Name }}
data:
  greeting: {{ .Values.greeting | quote }}
`,
	}
	return testrepo.WriteFiles(t, dir, files)
}

// TestHelmInstall installs a chart with the Helm SDK against the real
// apiserver and checks the release record and the ConfigMap.
func TestHelmInstall(t *testing.T) {
	cp := cptest.Get(t)
	cs := clientset(t, cp)
	ns := "helm-test"
	createNamespace(t, cs, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ch, err := loader.Load(writeTinyChart(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := helmtest.HelmConfig(t, cp, ns)
	inst := action.NewInstall(cfg)
	inst.ReleaseName = "tiny"
	inst.Namespace = ns
	inst.Timeout = 30 * time.Second
	start := time.Now()
	rel, err := inst.RunWithContext(ctx, ch, map[string]any{"greeting": "hi from the test"})
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Logf("helm install took %s", time.Since(start).Round(time.Millisecond))
	if rel.Info.Status != release.StatusDeployed {
		t.Errorf("release status %q, want deployed", rel.Info.Status)
	}

	got, err := action.NewGet(cfg).Run("tiny")
	if err != nil {
		t.Fatalf("helm get: %v", err)
	}
	if got.Info.Status != release.StatusDeployed || got.Version != 1 {
		t.Errorf("stored release: status %q version %d, want deployed 1", got.Info.Status, got.Version)
	}
	if _, err := cs.CoreV1().Secrets(ns).Get(ctx, "sh.helm.release.v1.tiny.v1", metav1.GetOptions{}); err != nil {
		t.Errorf("release Secret: %v", err)
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "tiny-cm", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ConfigMap from the chart: %v", err)
	}
	if cm.Data["greeting"] != "hi from the test" {
		t.Errorf("ConfigMap data %v", cm.Data)
	}
}
