package helmexec

import (
	"context"
	"errors"
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
	k8sfake "k8s.io/client-go/kubernetes/fake"
)

// countingDriver counts the queries that reach the stored releases.
type countingDriver struct {
	*driver.Memory
	queries int
}

func (c *countingDriver) Query(labels map[string]string) ([]*release.Release, error) {
	c.queries++
	return c.Memory.Query(labels)
}

func rel(name string, version int, status release.Status) *release.Release {
	return &release.Release{Name: name, Version: version, Namespace: "sdp", Info: &release.Info{Status: status}}
}

func key(r *release.Release) string {
	return "sh.helm.release.v1." + r.Name + ".v" + string(rune('0'+r.Version))
}

func versions(t *testing.T, h *actionHistory, labels map[string]string) []int {
	t.Helper()
	rs, err := h.Query(labels)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for _, r := range rs {
		vs = append(vs, r.Version)
	}
	return vs
}

func TestActionHistoryReadsOnceAndFollowsItsWrites(t *testing.T) {
	mem := driver.NewMemory()
	mem.SetNamespace("sdp")
	v1 := rel("a", 1, release.StatusDeployed)
	if err := mem.Create(key(v1), v1); err != nil {
		t.Fatal(err)
	}
	other := rel("b", 1, release.StatusDeployed)
	if err := mem.Create(key(other), other); err != nil {
		t.Fatal(err)
	}
	d := &countingDriver{Memory: mem}
	h := newActionHistory(d)
	history := map[string]string{"name": "a", "owner": "helm"}
	deployed := map[string]string{"name": "a", "owner": "helm", "status": "deployed"}

	steps := []struct {
		what    string
		do      func()
		labels  map[string]string
		want    []int
		queries int // reaching the stored releases, in all
	}{
		{"first history read", nil, history, []int{1}, 1},
		{"deployed, from what was read", nil, deployed, []int{1}, 1},
		{"an upgrade's new revision", func() {
			v2 := rel("a", 2, release.StatusPendingUpgrade)
			if err := h.Create(key(v2), v2); err != nil {
				t.Fatal(err)
			}
		}, history, []int{1, 2}, 1},
		{"not deployed yet", nil, deployed, []int{1}, 1},
		{"superseded and deployed", func() {
			for _, r := range []*release.Release{rel("a", 1, release.StatusSuperseded), rel("a", 2, release.StatusDeployed)} {
				if err := h.Update(key(r), r); err != nil {
					t.Fatal(err)
				}
			}
		}, deployed, []int{2}, 1},
		{"a change not written is not stored", func() {
			rs, _ := h.Query(deployed)
			rs[0].Info.Status = release.StatusUninstalling
		}, deployed, []int{2}, 1},
		{"deleted", func() {
			if _, err := h.Delete(key(rel("a", 1, ""))); err != nil {
				t.Fatal(err)
			}
		}, history, []int{2}, 1},
		{"another release is read", nil, map[string]string{"name": "b", "owner": "helm"}, []int{1}, 2},
		{"other labels pass through", nil, map[string]string{"owner": "helm"}, nil, 3},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		got := versions(t, h, s.labels)
		if s.want != nil && !equalInts(got, s.want) {
			t.Errorf("%s: versions %v, want %v", s.what, got, s.want)
		}
		if d.queries != s.queries {
			t.Errorf("%s: %d queries reached storage, want %d", s.what, d.queries, s.queries)
		}
	}
	// What the action wrote is what is stored.
	stored, err := mem.Query(history)
	if err != nil || len(stored) != 1 || stored[0].Version != 2 || stored[0].Info.Status != release.StatusDeployed {
		t.Errorf("stored: %v %v", stored, err)
	}
	// A release with no revision: not found, remembered as such.
	fresh := newActionHistory(d)
	before := d.queries
	for range 2 {
		if _, err := fresh.Query(map[string]string{"name": "new", "owner": "helm"}); !errors.Is(err, driver.ErrReleaseNotFound) {
			t.Errorf("no revision: %v", err)
		}
	}
	if d.queries != before+1 {
		t.Errorf("no revision: %d queries, want 1", d.queries-before)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An action right after Last starts from the history Last read: an
// upgrade then reads no history of its own; an action with no fresh read
// reads it once; a stale read, or one a write outside an action made
// stale, is not used.
func TestActionStartsFromLastRead(t *testing.T) {
	const ns, name = "sdp", "sdp-a"
	mem := driver.NewMemory()
	mem.SetNamespace(ns)
	d := &countingDriver{Memory: mem}
	store := storage.Init(d)
	r := NewWith(ns, &kubefake.PrintingKubeClient{Out: io.Discard}, store, chartutil.DefaultCapabilities.Copy(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ch := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: "demo", Version: "0.1.0"},
		Templates: []*chart.File{{Name: "templates/cm.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  n: {{ .Values.n | quote }}\n")}}}
	if err := store.Create(&release.Release{Name: name, Namespace: ns, Version: 1, Chart: ch, Config: map[string]any{"n": 1},
		Info: &release.Info{Status: release.StatusDeployed}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	upgrade := func(n int) *release.Release {
		t.Helper()
		rel, err := r.Upgrade(ctx, Spec{Name: name, Chart: ch, Values: map[string]any{"n": n}, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return rel
	}
	last := func() *release.Release {
		t.Helper()
		rel, err := r.Last(name)
		if err != nil {
			t.Fatal(err)
		}
		return rel
	}

	if rel := last(); rel.Version != 1 || d.queries != 1 {
		t.Fatalf("Last: revision %d after %d queries, want 1 after 1", rel.Version, d.queries)
	}
	if rel := upgrade(2); rel.Version != 2 || d.queries != 1 {
		t.Errorf("upgrade after Last: revision %d, %d queries in all, want 2 and still 1", rel.Version, d.queries)
	}
	if rel := upgrade(3); rel.Version != 3 || d.queries != 2 {
		t.Errorf("upgrade with no read before: revision %d, %d queries in all, want 3 and 2 (one of its own)", rel.Version, d.queries)
	}
	last()
	r.reads[name] = historyRead{revs: r.reads[name].revs, at: time.Now().Add(-2 * readFresh)}
	if rel := upgrade(4); rel.Version != 4 || d.queries != 4 {
		t.Errorf("upgrade after a stale read: revision %d, %d queries in all, want 4 and 4", rel.Version, d.queries)
	}
	if err := r.MarkFailed(last(), "test"); err != nil {
		t.Fatal(err)
	}
	if rel := upgrade(5); rel.Version != 5 || d.queries != 6 {
		t.Errorf("upgrade after a write outside an action: revision %d, %d queries in all, want 5 and 6", rel.Version, d.queries)
	}
	stored, err := mem.Query(map[string]string{"name": name, "owner": "helm", "status": "deployed"})
	if err != nil || len(stored) != 1 || stored[0].Version != 5 {
		t.Errorf("deployed in storage: %v %v, want revision 5 alone", stored, err)
	}
	last()
	if err := r.Uninstall(ctx, name, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Last(name); !errors.Is(err, ErrNotFound) {
		t.Errorf("after uninstall: %v", err)
	}
}

// A revision the action's history holds is deleted without the GET the
// Secrets driver makes first; one it does not hold goes through the driver;
// a Secret gone already is Helm's not-found.
func TestActionHistoryDeletesHeldRevisionsWithoutAGet(t *testing.T) {
	cs := k8sfake.NewClientset()
	secrets := driver.NewSecrets(cs.CoreV1().Secrets("sdp"))
	for _, r := range []*release.Release{rel("a", 1, release.StatusSuperseded), rel("a", 2, release.StatusDeployed), rel("b", 1, release.StatusDeployed)} {
		if err := secrets.Create(releaseKey(r.Name, r.Version), r); err != nil {
			t.Fatal(err)
		}
	}
	h := newActionHistory(secrets)
	h.deleteSecret = func(name string) error {
		return cs.CoreV1().Secrets("sdp").Delete(context.Background(), name, metav1.DeleteOptions{})
	}
	if got := versions(t, h, map[string]string{"name": "a", "owner": "helm"}); len(got) != 2 {
		t.Fatalf("history of a: %v", got)
	}
	cs.ClearActions()
	got, err := h.Delete(releaseKey("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "a" || got.Version != 1 {
		t.Errorf("deleted %s v%d, want a v1", got.Name, got.Version)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() != "delete" {
			t.Errorf("a %s of %s: want only the delete", a.GetVerb(), a.GetResource().Resource)
		}
	}
	if vs := versions(t, h, map[string]string{"name": "a", "owner": "helm"}); len(vs) != 1 || vs[0] != 2 {
		t.Errorf("history after the delete: %v, want [2]", vs)
	}
	// Not held: the driver's own way (it reads the release first).
	cs.ClearActions()
	if _, err := h.Delete(releaseKey("b", 1)); err != nil {
		t.Fatal(err)
	}
	if n := len(cs.Actions()); n != 2 {
		t.Errorf("%d calls for a revision not held, want the driver's get and delete", n)
	}
	// Held, but gone from the API server meanwhile.
	if err := cs.CoreV1().Secrets("sdp").Delete(context.Background(), releaseKey("a", 2), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Delete(releaseKey("a", 2)); !errors.Is(err, driver.ErrReleaseNotFound) {
		t.Errorf("err = %v, want driver.ErrReleaseNotFound", err)
	}
}
