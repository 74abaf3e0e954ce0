package helmexec

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestLaggingIndex: the release index has not seen a release that exists
// (its watch is down, as after an API server restart). An install must
// still find the name taken, and an upgrade and an uninstall must act on
// the release rather than be told it does not exist.
func TestLaggingIndex(t *testing.T) {
	const ns, name = "sdp", "lagging"
	secrets := driver.NewSecrets(fake.NewClientset().CoreV1().Secrets(ns))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r := &Runner{namespace: ns, kube: &kubefake.PrintingKubeClient{Out: io.Discard}, log: log}
	r.live = storage.Init(secrets)
	r.releases = storage.Init(&knownFirst{Secrets: secrets, known: r.isKnown})
	r.SetKnown(func(string) bool { return false })
	r.caps.Store(chartutil.DefaultCapabilities.Copy())

	ch := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: "demo", Version: "0.1.0"},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  n: {{ .Values.n | quote }}\n")}}}
	if err := r.live.Create(&release.Release{Name: name, Namespace: ns, Version: 1, Chart: ch, Config: map[string]any{"n": 1},
		Info: &release.Info{Status: release.StatusDeployed}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec := Spec{Name: name, Chart: ch, Values: map[string]any{"n": 2}, Timeout: time.Minute}

	if _, err := r.Install(ctx, spec); err == nil {
		t.Error("install of an existing release succeeded")
	}
	rel, err := r.Upgrade(ctx, spec)
	if err != nil {
		t.Fatalf("upgrade of a release the index has not seen: %v", err)
	}
	if rel.Version != 2 || rel.Config["n"] != 2 {
		t.Errorf("upgraded to revision %d with values %v, want 2 with n=2", rel.Version, rel.Config)
	}
	if err := r.Uninstall(ctx, name, time.Minute); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if last, err := r.Last(name); err != ErrNotFound {
		t.Errorf("after uninstall the release is still there (revision %v, err %v)", last, err)
	}
}

// TestRelabel: adopting a release sets our labels on its stored latest
// revision, as Secret labels the release index reads, without a new
// revision and keeping what the release holds.
func TestRelabel(t *testing.T) {
	const ns, name = "sdp", "sdp-adopted"
	cs := fake.NewClientset()
	secrets := driver.NewSecrets(cs.CoreV1().Secrets(ns))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := storage.Init(secrets)
	r := NewWith(ns, &kubefake.PrintingKubeClient{Out: io.Discard}, store, chartutil.DefaultCapabilities.Copy(), log)
	ch := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: "demo", Version: "0.1.0"}}
	if err := store.Create(&release.Release{Name: name, Namespace: ns, Version: 1, Chart: ch, Config: map[string]any{"n": 1.0},
		Info: &release.Info{Status: release.StatusDeployed}}); err != nil {
		t.Fatal(err)
	}
	rel, err := r.Last(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Relabel(rel, map[string]string{"sdp.skao.int/managed-by": "sdp-helm-deployer", "sdp.skao.int/deployment-digest": "d1"}); err != nil {
		t.Fatal(err)
	}
	list, err := cs.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d release Secrets after relabel, want 1 (no new revision)", len(list.Items))
	}
	labels := list.Items[0].Labels
	for k, v := range map[string]string{"sdp.skao.int/managed-by": "sdp-helm-deployer", "sdp.skao.int/deployment-digest": "d1",
		"owner": "helm", "name": name, "version": "1", "status": "deployed"} {
		if labels[k] != v {
			t.Errorf("Secret label %s=%q, want %q (all: %v)", k, labels[k], v, labels)
		}
	}
	after, err := r.Last(name)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != 1 || after.Config["n"] != 1.0 || after.Labels["sdp.skao.int/deployment-digest"] != "d1" {
		t.Errorf("release after relabel: revision %d values %v labels %v", after.Version, after.Config, after.Labels)
	}
}
