// Repository indexes: looking a chart up, and reading the indexes in use
// again, at once on a miss and every refresh period.

package charts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/repo"

	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

func (r *chartRepo) lookup(name, version string) (*repo.ChartVersion, error) {
	r.mu.Lock()
	idx := r.index
	r.mu.Unlock()
	if idx == nil {
		return nil, fmt.Errorf("%w: %s (the index of %s has not been read yet)", ErrNotFound, name, r.URL)
	}
	cv, err := idx.Get(name, version)
	if err != nil {
		if version == "" {
			return nil, fmt.Errorf("%w: no chart %q in the repository %s", ErrNotFound, name, r.URL)
		}
		return nil, fmt.Errorf("%w: no chart %q version %q in the repository %s", ErrNotFound, name, version, r.URL)
	}
	return cv, nil
}

func (s *Source) refreshIfStale(ctx context.Context, r *chartRepo) error {
	r.mu.Lock()
	stale := time.Since(r.lastRefresh) >= s.opts.MinRefresh
	r.mu.Unlock()
	if !stale {
		return nil
	}
	_, err := s.refresh(ctx, r)
	return err
}

// inUse lists the repositories read so far (the default one always), each
// once.
func (s *Source) inUse() []*chartRepo {
	out := []*chartRepo{s.def}
	for _, n := range sortedNames(s.named) {
		r := s.named[n]
		r.mu.Lock()
		used := r.used
		r.mu.Unlock()
		if used && r != s.def {
			out = append(out, r)
		}
	}
	return out
}

// Refresh reads the index of every repository in use again; changed says
// whether one differs from the one held.
func (s *Source) Refresh(ctx context.Context) (changed bool, err error) {
	var errs []error
	for _, r := range s.inUse() {
		c, err := s.refresh(ctx, r)
		changed = changed || c
		if err != nil {
			errs = append(errs, fmt.Errorf("repository %s: %w", r.Name, err))
		}
	}
	return changed, errors.Join(errs...)
}

func (s *Source) refresh(ctx context.Context, r *chartRepo) (changed bool, err error) {
	v, err, _ := s.flight.Do("index:"+r.indexPath, func() (any, error) {
		u := strings.TrimSuffix(r.URL, "/") + "/index.yaml"
		data, err := get(ctx, r.client, u, r.credentialsFor(u))
		if err != nil {
			err = fmt.Errorf("read chart repository index: %w", err)
		}
		r.mu.Lock()
		r.lastRefresh, r.refreshErr = time.Now(), err
		same := err == nil && digestOf(data) == r.indexDigest
		r.mu.Unlock()
		if err != nil || same {
			return false, err
		}
		if err := os.WriteFile(r.indexPath, data, 0o600); err != nil {
			return false, fmt.Errorf("cache chart repository index: %w", err)
		}
		idx, err := repo.LoadIndexFile(r.indexPath)
		if err != nil {
			err = fmt.Errorf("%w: repository index %s: %v", ErrInvalid, u, err)
			r.mu.Lock()
			r.refreshErr = err
			r.mu.Unlock()
			return false, err
		}
		r.mu.Lock()
		r.index, r.indexDigest = idx, digestOf(data)
		r.mu.Unlock()
		return true, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// Run refreshes the index of every repository in use every Refresh period
// until ctx ends, calling OnIndexChange when one changed, and drops cached
// OCI pulls and URL downloads so that moved tags are seen. Repositories
// are refreshed side by side, so that one that is away does not hold up
// the others.
func (s *Source) Run(ctx context.Context) {
	s.refreshInUse(ctx)
	controller.Every(ctx, s.opts.Refresh, func(ctx context.Context) {
		s.dropPulls()
		s.refreshInUse(ctx)
	})
}

// refreshInUse refreshes every repository in use side by side.
func (s *Source) refreshInUse(ctx context.Context) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changed bool
	)
	for _, r := range s.inUse() {
		wg.Go(func() {
			c, err := s.refresh(ctx, r)
			switch {
			case err != nil && ctx.Err() == nil:
				s.opts.Log.Warn("chart repository refresh failed", "repository", r.Name, "url", r.URL, "error", err)
			case c:
				s.opts.Log.Info("chart repository index changed", "repository", r.Name, "url", r.URL)
				mu.Lock()
				changed = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if changed && s.opts.OnIndexChange != nil {
		s.opts.OnIndexChange()
	}
}

// dropPulls forgets OCI pulls and URL downloads, whose tags may have moved;
// repository archives are pinned by the index's digest and stay.
func (s *Source) dropPulls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.archives {
		if strings.HasPrefix(k, "oci:") || strings.HasPrefix(k, "url:") {
			delete(s.archives, k)
		}
	}
}
