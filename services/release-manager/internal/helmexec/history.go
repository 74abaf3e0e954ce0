package helmexec

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// actionHistory is the storage driver of one Helm action: it reads a
// release's history from the API server once and answers the action's
// further queries of that history from what it read, kept current with
// the action's own writes. Helm asks for the same history up to three
// times in one upgrade (the last revision, the last deployed one, the
// revisions to prune past MaxHistory) and twice in an uninstall; each is
// a label-selected LIST over every release Secret of the namespace, the
// costliest call of the action with hundreds of releases. Within one
// action the answers are those Helm would have got: the reconciler
// serialises the actions of a release, and Helm takes no lock between its
// own queries either. A new action starts with nothing remembered, or with
// the history the reconciler read live just before it (Runner.Last).
type actionHistory struct {
	driver.Driver
	// deleteSecret, when set, deletes a release Secret by name without
	// the GET the Secrets driver makes first to return the release it
	// deletes: for a revision the history holds, the action has it
	// already.
	deleteSecret func(name string) error
	mu           sync.Mutex
	// name is the release whose history is held; read says it was.
	name string
	read bool
	revs map[int]*release.Release
}

func newActionHistory(d driver.Driver) *actionHistory { return &actionHistory{Driver: d} }

// seed starts the action from a history just read live (Runner.Last).
func (h *actionHistory) seed(name string, revs []*release.Release) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.name, h.read, h.revs = name, true, map[int]*release.Release{}
	for _, r := range revs {
		h.revs[r.Version] = copyRelease(r)
	}
}

// historyQuery reports whether labels ask for one release's history (as
// Storage.History and Storage.DeployedAll do), and for which status.
func historyQuery(labels map[string]string) (name, status string, ok bool) {
	name, status = labels["name"], labels["status"]
	for k := range labels {
		if k != "name" && k != "owner" && k != "status" {
			return "", "", false
		}
	}
	return name, status, name != "" && labels["owner"] == "helm"
}

func (h *actionHistory) Query(labels map[string]string) ([]*release.Release, error) {
	name, status, ok := historyQuery(labels)
	if !ok {
		return h.Driver.Query(labels)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.read || h.name != name {
		all, err := h.Driver.Query(map[string]string{"name": name, "owner": "helm"})
		if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
			return nil, err
		}
		h.name, h.read, h.revs = name, true, map[int]*release.Release{}
		for _, r := range all {
			h.revs[r.Version] = r
		}
	}
	var out []*release.Release
	for _, v := range slices.Sorted(maps.Keys(h.revs)) {
		r := h.revs[v]
		if status == "" || r.Info != nil && string(r.Info.Status) == status {
			out = append(out, copyRelease(r))
		}
	}
	if len(out) == 0 {
		return nil, driver.ErrReleaseNotFound
	}
	return out, nil
}

// copyRelease copies what Helm changes on a release it read before it
// writes it back (its info and labels), so that a change not yet written
// is not taken for the stored revision.
func copyRelease(r *release.Release) *release.Release {
	c := *r
	if r.Info != nil {
		info := *r.Info
		c.Info = &info
	}
	c.Labels = maps.Clone(r.Labels)
	return &c
}

func (h *actionHistory) Create(key string, r *release.Release) error {
	if err := h.Driver.Create(key, r); err != nil {
		return err
	}
	h.remember(r)
	return nil
}

func (h *actionHistory) Update(key string, r *release.Release) error {
	if err := h.Driver.Update(key, r); err != nil {
		return err
	}
	h.remember(r)
	return nil
}

func (h *actionHistory) Delete(key string) (*release.Release, error) {
	if held := h.held(key); held != nil && h.deleteSecret != nil {
		if err := h.deleteSecret(key); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, driver.ErrReleaseNotFound
			}
			return nil, fmt.Errorf("delete release %s: %w", key, err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.revs, held.Version)
		return held, nil
	}
	r, err := h.Driver.Delete(key)
	if err != nil {
		return r, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if r != nil && h.read && h.name == r.Name {
		delete(h.revs, r.Version)
	}
	return r, nil
}

// held is the revision of the history held whose storage key is key, or
// nil.
func (h *actionHistory) held(key string) *release.Release {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.read {
		return nil
	}
	for _, r := range h.revs {
		if releaseKey(r.Name, r.Version) == key {
			return copyRelease(r)
		}
	}
	return nil
}

// releaseKey is Helm's storage key of a revision, the name of its Secret.
func releaseKey(name string, version int) string {
	return fmt.Sprintf("%s.%s.v%d", storage.HelmStorageType, name, version)
}

func (h *actionHistory) remember(r *release.Release) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.read && h.name == r.Name {
		h.revs[r.Version] = copyRelease(r)
	}
}
