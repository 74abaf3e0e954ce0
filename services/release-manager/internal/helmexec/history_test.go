package helmexec

import (
	"errors"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
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
