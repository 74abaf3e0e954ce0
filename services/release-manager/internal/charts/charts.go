// Package charts finds and loads the chart a deployment names: a name
// without '/' from the configured chart repository (its index refreshed
// periodically, and at once on a miss), an oci:// reference, or a local
// path. Archives are cached as bytes and loaded afresh for each use,
// because Helm changes a loaded chart while installing it (dependency
// processing), so one shared *chart.Chart could leak between releases.
package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
)

var (
	// ErrNotFound: no chart of that name (and version) where the reference
	// points. Retrying helps only once the chart is published.
	ErrNotFound = errors.New("chart not found")
	// ErrUnreachable: the repository or registry did not answer.
	ErrUnreachable = errors.New("chart source unreachable")
	// ErrInvalid: what was found is not a usable chart.
	ErrInvalid = errors.New("invalid chart")
)

// Options configure a Source.
type Options struct {
	// RepoURL is the chart repository (SDP_CHART_REPO_URL); empty means
	// plain names cannot be resolved.
	RepoURL string
	// Refresh is how often the repository index is read again.
	Refresh time.Duration
	// MinRefresh bounds how often a miss may trigger a refresh.
	MinRefresh time.Duration
	// HTTPClient fetches the index and archives.
	HTTPClient *http.Client
	// PlainHTTPRegistry talks to OCI registries without TLS (local ones).
	PlainHTTPRegistry bool
	// CacheDir holds the downloaded index.
	CacheDir string
	// OnIndexChange is called after a refresh that changed the index, so
	// that entries waiting for a chart are tried again.
	OnIndexChange func()
	Log           *slog.Logger
}

// Source resolves chart references. It is safe for concurrent use.
type Source struct {
	opts     Options
	registry *registry.Client
	flight   singleflight.Group

	mu          sync.Mutex
	index       *repo.IndexFile
	indexDigest string
	lastRefresh time.Time
	refreshErr  error             // of the last refresh
	archives    map[string][]byte // by cache key
}

// New returns a Source.
func New(opts Options) (*Source, error) {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 300 * time.Second
	}
	if opts.MinRefresh <= 0 {
		opts.MinRefresh = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.CacheDir == "" {
		dir, err := os.MkdirTemp("", "charts-")
		if err != nil {
			return nil, fmt.Errorf("chart cache dir: %w", err)
		}
		opts.CacheDir = dir
	}
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("chart cache dir: %w", err)
	}
	ropts := []registry.ClientOption{registry.ClientOptWriter(io.Discard), registry.ClientOptHTTPClient(opts.HTTPClient)}
	if opts.PlainHTTPRegistry {
		ropts = append(ropts, registry.ClientOptPlainHTTP())
	}
	rc, err := registry.NewClient(ropts...)
	if err != nil {
		return nil, fmt.Errorf("OCI registry client: %w", err)
	}
	return &Source{opts: opts, registry: rc, archives: map[string][]byte{}}, nil
}

// Kind names how a reference is resolved, for logs and errors.
func Kind(ref string) string {
	switch {
	case strings.HasPrefix(ref, "oci://"):
		return "oci"
	case strings.Contains(ref, "/") || strings.HasPrefix(ref, "."):
		return "path"
	}
	return "repo"
}

// Load returns a freshly loaded chart for ref and version ("" for the
// newest in a repository, or the tag in ref for OCI).
func (s *Source) Load(ctx context.Context, ref, version string) (*chart.Chart, error) {
	var (
		data []byte
		err  error
	)
	switch Kind(ref) {
	case "oci":
		data, err = s.pullOCI(ref, version)
	case "path":
		return loadPath(ref)
	default:
		data, err = s.fromRepo(ctx, ref, version)
	}
	if err != nil {
		return nil, err
	}
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, ref, err)
	}
	if version != "" && Kind(ref) == "repo" && c.Metadata.Version != version {
		return nil, fmt.Errorf("%w: %s is version %s, not %s", ErrInvalid, ref, c.Metadata.Version, version)
	}
	return c, nil
}

func loadPath(path string) (*chart.Chart, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: local chart path %s does not exist (a name without '/' is looked up in the chart repository)", ErrNotFound, path)
	}
	c, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	return c, nil
}

func (s *Source) pullOCI(ref, version string) ([]byte, error) {
	full := strings.TrimPrefix(ref, "oci://")
	if version != "" && !strings.Contains(full[strings.LastIndex(full, "/")+1:], ":") {
		full += ":" + version
	}
	key := "oci:" + full
	s.mu.Lock()
	data, ok := s.archives[key]
	s.mu.Unlock()
	// Tags can move; a cached pull is kept only until the next index
	// refresh period (see Run), like a repository index.
	if ok {
		return data, nil
	}
	v, err, _ := s.flight.Do(key, func() (any, error) {
		res, err := s.registry.Pull(full, registry.PullOptWithChart(true))
		if err != nil {
			if strings.Contains(err.Error(), "not found") {
				return nil, fmt.Errorf("%w: %s: %v", ErrNotFound, ref, err)
			}
			return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, ref, err)
		}
		return res.Chart.Data, nil
	})
	if err != nil {
		return nil, err
	}
	data = v.([]byte)
	s.mu.Lock()
	s.archives[key] = data
	s.mu.Unlock()
	return data, nil
}

func (s *Source) fromRepo(ctx context.Context, name, version string) ([]byte, error) {
	if s.opts.RepoURL == "" {
		return nil, fmt.Errorf("%w: %q is a chart name, but no chart repository is configured (SDP_CHART_REPO_URL)", ErrNotFound, name)
	}
	cv, err := s.lookup(name, version)
	if errors.Is(err, ErrNotFound) {
		// Perhaps just published: read the index again, at most every
		// MinRefresh, before giving up.
		if rerr := s.refreshIfStale(ctx); rerr != nil {
			return nil, rerr
		}
		cv, err = s.lookup(name, version)
	}
	if err != nil {
		s.mu.Lock()
		rerr := s.refreshErr
		s.mu.Unlock()
		if rerr != nil {
			// Not found in an index that could not be refreshed: say the
			// repository is away, which is what the user must act on.
			return nil, fmt.Errorf("%w (%v)", rerr, err)
		}
		return nil, err
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("%w: %s %s has no download URL in the index", ErrInvalid, name, cv.Version)
	}
	url, err := repo.ResolveReferenceURL(s.opts.RepoURL, cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	key := "repo:" + url + "@" + cv.Digest
	s.mu.Lock()
	data, ok := s.archives[key]
	s.mu.Unlock()
	if ok {
		return data, nil
	}
	v, err, _ := s.flight.Do(key, func() (any, error) { return s.get(ctx, url) })
	if err != nil {
		return nil, fmt.Errorf("download chart %s %s: %w", name, cv.Version, err)
	}
	data = v.([]byte)
	if cv.Digest != "" {
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != cv.Digest {
			return nil, fmt.Errorf("%w: %s %s: archive digest does not match the index", ErrInvalid, name, cv.Version)
		}
	}
	s.mu.Lock()
	s.archives[key] = data
	s.mu.Unlock()
	return data, nil
}

func (s *Source) lookup(name, version string) (*repo.ChartVersion, error) {
	s.mu.Lock()
	idx := s.index
	s.mu.Unlock()
	if idx == nil {
		return nil, fmt.Errorf("%w: %s (the repository index has not been read yet)", ErrNotFound, name)
	}
	cv, err := idx.Get(name, version)
	if err != nil {
		if version == "" {
			return nil, fmt.Errorf("%w: no chart %q in the repository %s", ErrNotFound, name, s.opts.RepoURL)
		}
		return nil, fmt.Errorf("%w: no chart %q version %q in the repository %s", ErrNotFound, name, version, s.opts.RepoURL)
	}
	return cv, nil
}

func (s *Source) refreshIfStale(ctx context.Context) error {
	s.mu.Lock()
	stale := time.Since(s.lastRefresh) >= s.opts.MinRefresh
	s.mu.Unlock()
	if !stale {
		return nil
	}
	_, err := s.Refresh(ctx)
	return err
}

// Refresh reads the repository index again; changed says whether it
// differs from the one held.
func (s *Source) Refresh(ctx context.Context) (changed bool, err error) {
	if s.opts.RepoURL == "" {
		return false, nil
	}
	v, err, _ := s.flight.Do("index", func() (any, error) {
		url := strings.TrimSuffix(s.opts.RepoURL, "/") + "/index.yaml"
		data, err := s.get(ctx, url)
		if err != nil {
			err = fmt.Errorf("read chart repository index: %w", err)
		}
		s.mu.Lock()
		s.lastRefresh, s.refreshErr = time.Now(), err
		s.mu.Unlock()
		if err != nil {
			return false, err
		}
		sum := sha256.Sum256(data)
		digest := hex.EncodeToString(sum[:])
		s.mu.Lock()
		same := digest == s.indexDigest
		s.mu.Unlock()
		if same {
			return false, nil
		}
		path := filepath.Join(s.opts.CacheDir, "index.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return false, fmt.Errorf("cache chart repository index: %w", err)
		}
		idx, err := repo.LoadIndexFile(path)
		if err != nil {
			return false, fmt.Errorf("%w: repository index %s: %v", ErrInvalid, url, err)
		}
		s.mu.Lock()
		s.index, s.indexDigest = idx, digest
		s.mu.Unlock()
		return true, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

func (s *Source) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s answered 404", ErrNotFound, url)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: %s answered %s", ErrUnreachable, url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrUnreachable, url, err)
	}
	return data, nil
}

// Run refreshes the index every Refresh period until ctx ends, calling
// OnIndexChange when it changed, and drops cached OCI pulls so that moved
// tags are seen.
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
		changed, err := s.Refresh(ctx)
		if err != nil {
			s.opts.Log.Warn("chart repository refresh failed", "url", s.opts.RepoURL, "error", err)
		} else if changed {
			s.opts.Log.Info("chart repository index changed", "url", s.opts.RepoURL)
			if s.opts.OnIndexChange != nil {
				s.opts.OnIndexChange()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		for k := range s.archives {
			if strings.HasPrefix(k, "oci:") {
				delete(s.archives, k)
			}
		}
		s.mu.Unlock()
	}
}
