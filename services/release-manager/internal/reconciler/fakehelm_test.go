package reconciler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/plan"
)

// fakeHelm is a Helm that keeps each release's history in memory and
// records the actions asked of it, so the loop's decisions are tested
// without Helm storage or a cluster. It also serves as the release index
// (hide makes a release invisible to the index, as a lagging cache).
type fakeHelm struct {
	mu    sync.Mutex
	hist  map[string][]*release.Release
	calls []string
	// fail holds errors returned by the next calls of an action
	// ("install", "upgrade", "uninstall", "mark-failed"), in order.
	fail map[string][]error
	hide map[string]bool
	// lasts counts the live reads (Last) of each release.
	lasts map[string]int
}

func newFakeHelm(rels ...*release.Release) *fakeHelm {
	f := &fakeHelm{hist: map[string][]*release.Release{}, fail: map[string][]error{}, hide: map[string]bool{}, lasts: map[string]int{}}
	for _, r := range rels {
		f.hist[r.Name] = append(f.hist[r.Name], r)
	}
	return f
}

func (f *fakeHelm) record(action, name string) error {
	f.calls = append(f.calls, action+" "+name)
	if errs := f.fail[action]; len(errs) > 0 {
		f.fail[action] = errs[1:]
		return errs[0]
	}
	return nil
}

func (f *fakeHelm) latest(name string) *release.Release {
	h := f.hist[name]
	if len(h) == 0 {
		return nil
	}
	return h[len(h)-1]
}

func (f *fakeHelm) Last(name string) (*release.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lasts[name]++
	rel := f.latest(name)
	if rel == nil {
		return nil, fmt.Errorf("fake: %s: %w", name, helmexec.ErrNotFound)
	}
	copied := *rel
	info := *rel.Info
	copied.Info = &info
	return &copied, nil
}

func (f *fakeHelm) lastsOf(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lasts[name]
}

func (f *fakeHelm) Install(_ context.Context, s helmexec.Spec) (*release.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("install", s.Name); err != nil {
		return nil, err
	}
	if len(f.hist[s.Name]) > 0 {
		return nil, fmt.Errorf("fake install %s: %w", s.Name, helmexec.ErrNameInUse)
	}
	return f.add(s, 1), nil
}

func (f *fakeHelm) Upgrade(_ context.Context, s helmexec.Spec) (*release.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("upgrade", s.Name); err != nil {
		return nil, err
	}
	last := f.latest(s.Name)
	if last == nil {
		return nil, fmt.Errorf("fake upgrade %s: %w", s.Name, helmexec.ErrNotFound)
	}
	if last.Info.Status == release.StatusDeployed {
		last.Info.Status = release.StatusSuperseded
	}
	return f.add(s, last.Version+1), nil
}

func (f *fakeHelm) add(s helmexec.Spec, version int) *release.Release {
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	rel := &release.Release{Name: s.Name, Namespace: ns, Version: version, Chart: s.Chart, Config: s.Values, Labels: labels,
		Info: &release.Info{Status: release.StatusDeployed}}
	f.hist[s.Name] = append(f.hist[s.Name], rel)
	return rel
}

func (f *fakeHelm) Uninstall(_ context.Context, name string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("uninstall", name); err != nil {
		return err
	}
	delete(f.hist, name)
	return nil
}

func (f *fakeHelm) MarkFailed(rel *release.Release, why string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("mark-failed", rel.Name); err != nil {
		return err
	}
	stored := f.latest(rel.Name)
	if stored == nil || stored.Version != rel.Version {
		return fmt.Errorf("fake mark-failed %s: revision %d is not the latest", rel.Name, rel.Version)
	}
	stored.Info.Status, stored.Info.Description = release.StatusFailed, why
	return nil
}

func (f *fakeHelm) Relabel(rel *release.Release, labels map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("relabel", rel.Name); err != nil {
		return err
	}
	stored := f.latest(rel.Name)
	if stored == nil || stored.Version != rel.Version {
		return fmt.Errorf("fake relabel %s: revision %d is not the latest", rel.Name, rel.Version)
	}
	merged := map[string]string{}
	for k, v := range stored.Labels {
		merged[k] = v
	}
	for k, v := range labels {
		merged[k] = v
	}
	stored.Labels = merged
	return nil
}

// Latest, Names and CountByStatus make the fake the release index too:
// like it, it sees owned and unowned releases.
func (f *fakeHelm) Latest(name string) (plan.Observed, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rel := f.latest(name)
	if rel == nil || f.hide[name] {
		return plan.Observed{}, false
	}
	return plan.ObservedFrom(rel), true
}

func (f *fakeHelm) Names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.hist {
		if !f.hide[n] {
			names = append(names, n)
		}
	}
	return names
}

func (f *fakeHelm) CountByStatus() map[string]int {
	counts := map[string]int{}
	for _, n := range f.Names() {
		if o, ok := f.Latest(n); ok && o.Owned {
			counts[string(o.Status)]++
		}
	}
	return counts
}

func (f *fakeHelm) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}
