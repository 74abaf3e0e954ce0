// Reading a release's latest revision live, and keeping that read for
// the action that follows it.

package helmexec

import (
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// historyRead is a release's history as a live read found it.
type historyRead struct {
	revs []*release.Release
	at   time.Time
}

// readFresh bounds how old a live read may be for an action to start
// from it: the reconciler reads, decides and acts within milliseconds;
// anything older is read again.
const readFresh = time.Second

// Last returns the latest revision of a release, read from storage (not a
// cache), or ErrNotFound. The history it read is what the next action on
// the release starts from, if it follows within readFresh.
func (r *Runner) Last(name string) (*release.Release, error) {
	revs, err := r.live.History(name)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		r.forgetRead(name)
		return nil, fmt.Errorf("read release %s: %w", name, err)
	}
	r.keepRead(name, revs)
	var last *release.Release
	for _, rel := range revs {
		if last == nil || rel.Version > last.Version {
			last = rel
		}
	}
	if last == nil {
		return nil, ErrNotFound
	}
	return last, nil
}

func (r *Runner) keepRead(name string, revs []*release.Release) {
	kept := make([]*release.Release, len(revs))
	for i, rel := range revs {
		kept[i] = copyRelease(rel)
	}
	r.readsMu.Lock()
	defer r.readsMu.Unlock()
	if r.reads == nil {
		r.reads = map[string]historyRead{}
	}
	r.reads[name] = historyRead{revs: kept, at: time.Now()}
}

// takeRead hands a fresh live read of name to one action, once.
func (r *Runner) takeRead(name string) ([]*release.Release, bool) {
	r.readsMu.Lock()
	defer r.readsMu.Unlock()
	read, ok := r.reads[name]
	delete(r.reads, name)
	return read.revs, ok && time.Since(read.at) < readFresh
}

// forgetRead drops a read that a write outside an action made stale.
func (r *Runner) forgetRead(name string) {
	r.readsMu.Lock()
	defer r.readsMu.Unlock()
	delete(r.reads, name)
}

// Manifest returns the manifest of one revision of a release, read from
// storage (one Secret).
func (r *Runner) Manifest(name string, revision int) (string, error) {
	rel, err := r.live.Get(name, revision)
	if err != nil {
		return "", fmt.Errorf("read release %s revision %d: %w", name, revision, err)
	}
	return rel.Manifest, nil
}
