// Package charts finds and loads the chart a deployment names, reading the
// chart field as the Helm CLI (and so the Python deployer) reads it: a name
// without '/' from the default chart repository, <repo>/<chart> from a
// named repository, oci:// from a registry, an http(s):// archive URL, and
// a local chart only in an explicit form (an absolute path or file://).
// Each repository's index is read when the repository is first used and
// then every refresh period, and again at once on a miss.
//
// Archives are cached as bytes and loaded afresh for each use, because
// Helm changes a loaded chart while installing it (dependency processing),
// so one shared *chart.Chart could leak between releases.
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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	// ErrDigestMismatch: the archive's digest differs from the one the
	// repository index gives, and Options.VerifyDigest refuses such
	// archives. It wraps ErrInvalid.
	ErrDigestMismatch = fmt.Errorf("%w: archive digest differs from the repository index", ErrInvalid)
)

// Options configure a Source.
type Options struct {
	// RepoURL is the default repository (SDP_CHART_REPO_URL), where names
	// without '/' come from; empty means DefaultRepoURL. It is also the
	// repository named "helmdeploy" unless Repos or the repositories file
	// name another.
	RepoURL string
	// Repos are named repositories from the setting (SDP_CHART_REPOS).
	Repos []Repository
	// RepositoryConfig is a Helm repositories.yaml to read named
	// repositories from (see RepositoryConfigPath); empty reads none.
	RepositoryConfig string
	// Refresh is how often the index of each repository in use is read
	// again.
	Refresh time.Duration
	// MinRefresh bounds how often a miss may trigger a refresh.
	MinRefresh time.Duration
	// HTTPClient fetches indexes and archives.
	HTTPClient *http.Client
	// PlainHTTPRegistry talks to OCI registries without TLS (local ones).
	PlainHTTPRegistry bool
	// CacheDir holds the downloaded indexes.
	CacheDir string
	// VerifyDigest refuses an archive whose digest differs from the
	// repository index (SDP_CHART_VERIFY_DIGEST). Helm's CLI installs such
	// archives, so by default they are installed with a warning.
	VerifyDigest bool
	// Registerer takes the Source's metrics; nil registers none.
	Registerer prometheus.Registerer
	// OnIndexChange is called after a refresh that changed an index, so
	// that entries waiting for a chart are tried again.
	OnIndexChange func()
	Log           *slog.Logger
}

// Loaded is a freshly loaded chart and what the user should know about it.
type Loaded struct {
	Chart *chart.Chart
	// Warning, when not empty, is a note for the deployment's state entry:
	// the chart was loaded, but not quite as expected (an archive whose
	// digest differs from the repository index).
	Warning string
}

// Source resolves chart references. It is safe for concurrent use.
type Source struct {
	opts     Options
	registry *registry.Client
	flight   singleflight.Group
	def      *chartRepo
	named    map[string]*chartRepo
	// mismatches counts distinct archives whose digest differed.
	mismatches prometheus.Counter

	mu       sync.Mutex
	archives map[string]archive // by cache key
	warned   map[string]bool    // chart, version and digest of mismatches logged
}

type archive struct {
	data    []byte
	warning string
}

// chartRepo is one chart repository and its cached index.
type chartRepo struct {
	Repository
	client    *http.Client
	indexPath string

	mu          sync.Mutex
	used        bool // refreshed periodically from its first use on
	index       *repo.IndexFile
	indexDigest string
	lastRefresh time.Time
	refreshErr  error // of the last refresh
}

// New returns a Source. It fails on repository settings it cannot use
// (a repositories file that does not parse, a TLS file that cannot be
// read), so that the release-manager does not start with them.
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
	if opts.RepoURL == "" {
		opts.RepoURL = DefaultRepoURL
	}
	if err := checkRepoURL(opts.RepoURL); err != nil {
		return nil, fmt.Errorf("SDP_CHART_REPO_URL: %w", err)
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
	fromFile, err := LoadRepositoryConfig(opts.RepositoryConfig)
	if err != nil {
		return nil, err
	}
	s := &Source{opts: opts, registry: rc, named: map[string]*chartRepo{},
		archives: map[string]archive{}, warned: map[string]bool{},
		mismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "sdp_helmdeploy", Subsystem: "release_manager", Name: "chart_digest_mismatch_total",
			Help: "Chart archives whose digest differed from their repository index (each archive counted once); installed with a warning unless SDP_CHART_VERIFY_DIGEST is set.",
		}),
	}
	if s.def, err = s.newRepo(Repository{Name: DefaultRepoName, URL: opts.RepoURL, From: "SDP_CHART_REPO_URL"}); err != nil {
		return nil, err
	}
	s.def.used = true // read at start, as `helm repo add` would
	// Names for the same repository share one index (a repositories.yaml
	// holding helmdeploy with SDP_CHART_REPO_URL's URL, as `helm repo add`
	// wrote it for the Python deployer).
	same := map[Repository]*chartRepo{sameKey(s.def.Repository): s.def}
	defaults := []Repository{{Name: "dask", URL: DaskRepoURL, From: "default"}}
	for name, r := range mergeRepos(opts.Repos, fromFile, defaults) {
		if cr, ok := same[sameKey(r)]; ok {
			s.named[name] = cr
			continue
		}
		if s.named[name], err = s.newRepo(r); err != nil {
			return nil, err
		}
		same[sameKey(r)] = s.named[name]
	}
	if _, ok := s.named[DefaultRepoName]; !ok {
		s.named[DefaultRepoName] = s.def
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.mismatches); err != nil {
			return nil, fmt.Errorf("chart metrics: %w", err)
		}
	}
	return s, nil
}

func (s *Source) newRepo(r Repository) (*chartRepo, error) {
	client, err := r.httpClient(s.opts.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("chart repository %q (%s): %w", r.Name, r.From, err)
	}
	sum := sha256.Sum256([]byte(r.Name + "\x00" + r.URL))
	return &chartRepo{Repository: r, client: client,
		indexPath: filepath.Join(s.opts.CacheDir, "index-"+hex.EncodeToString(sum[:8])+".yaml")}, nil
}

// sameKey is r without what does not change how it is read.
func sameKey(r Repository) Repository {
	r.Name, r.From = "", ""
	r.URL = strings.TrimSuffix(r.URL, "/")
	return r
}

// DefaultURL is the default repository's URL, where names without '/'
// come from.
func (s *Source) DefaultURL() string { return s.def.URL }

// Repositories names the named repositories and their URLs, for the log
// at start.
func (s *Source) Repositories() map[string]string {
	out := make(map[string]string, len(s.named))
	for n, r := range s.named {
		out[n] = r.URL
	}
	return out
}

// Load returns a freshly loaded chart for ref and version ("" for the
// newest in a repository, or the tag in ref for OCI). A warning (see
// Fetch) is logged and counted but not returned.
func (s *Source) Load(ctx context.Context, ref, version string) (*chart.Chart, error) {
	l, err := s.Fetch(ctx, ref, version)
	return l.Chart, err
}

// Fetch is Load with the warning the state entry should carry.
func (s *Source) Fetch(ctx context.Context, ref, version string) (Loaded, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return Loaded{}, err
	}
	var a archive
	switch r.Kind {
	case FromLocal:
		c, err := loadPath(r.Chart)
		return Loaded{Chart: c}, err
	case FromOCI:
		a.data, err = s.pullOCI(ref, r.Chart, version)
	case FromURL:
		a.data, err = s.fromURL(ctx, r.Chart)
	default:
		cr := s.def
		if r.Repo != "" {
			var ok bool
			if cr, ok = s.named[r.Repo]; !ok {
				return Loaded{}, fmt.Errorf("%w %q in %q: the known repositories are %s (SDP_CHART_REPOS, Helm's repositories.yaml, defaults); a local chart is given as an absolute path or file:///<path>",
					ErrUnknownRepo, r.Repo, ref, strings.Join(sortedNames(s.named), ", "))
			}
		}
		a, err = s.fromRepo(ctx, cr, r.Chart, version)
	}
	if err != nil {
		return Loaded{}, err
	}
	c, err := loader.LoadArchive(bytes.NewReader(a.data))
	if err != nil {
		return Loaded{}, fmt.Errorf("%w: %s: %v", ErrInvalid, ref, err)
	}
	if version != "" && (r.Kind == FromRepo || r.Kind == FromURL) && c.Metadata.Version != version {
		return Loaded{}, fmt.Errorf("%w: %s is version %s, not %s", ErrInvalid, ref, c.Metadata.Version, version)
	}
	return Loaded{Chart: c, Warning: a.warning}, nil
}

func loadPath(path string) (*chart.Chart, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: local chart path %s does not exist on the release-manager", ErrNotFound, path)
	}
	c, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, path, err)
	}
	return c, nil
}

func (s *Source) pullOCI(ref, full, version string) ([]byte, error) {
	if version != "" && !strings.Contains(full[strings.LastIndex(full, "/")+1:], ":") {
		full += ":" + version
	}
	key := "oci:" + full
	// Tags can move; a cached pull is kept only until the next refresh
	// period (see Run), like a repository index.
	return s.cached(key, func() ([]byte, error) {
		res, err := s.registry.Pull(full, registry.PullOptWithChart(true))
		if err != nil {
			if strings.Contains(err.Error(), "not found") {
				return nil, fmt.Errorf("%w: %s: %v", ErrNotFound, ref, err)
			}
			return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, ref, err)
		}
		return res.Chart.Data, nil
	})
}

// fromURL downloads a chart archive by URL, as `helm install x <url>`.
// Kept until the next refresh period, as an OCI pull.
func (s *Source) fromURL(ctx context.Context, u string) ([]byte, error) {
	return s.cached("url:"+u, func() ([]byte, error) {
		data, err := get(ctx, s.opts.HTTPClient, u, nil)
		if err != nil {
			return nil, fmt.Errorf("download chart %s: %w", u, err)
		}
		return data, nil
	})
}

func (s *Source) cached(key string, fetch func() ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	a, ok := s.archives[key]
	s.mu.Unlock()
	if ok {
		return a.data, nil
	}
	v, err, _ := s.flight.Do(key, func() (any, error) { return fetch() })
	if err != nil {
		return nil, err
	}
	data := v.([]byte)
	s.mu.Lock()
	s.archives[key] = archive{data: data}
	s.mu.Unlock()
	return data, nil
}

func (s *Source) fromRepo(ctx context.Context, r *chartRepo, name, version string) (archive, error) {
	r.mu.Lock()
	r.used = true
	r.mu.Unlock()
	cv, err := r.lookup(name, version)
	if errors.Is(err, ErrNotFound) {
		// Perhaps just published: read the index again, at most every
		// MinRefresh, before giving up.
		if rerr := s.refreshIfStale(ctx, r); rerr != nil {
			return archive{}, rerr
		}
		cv, err = r.lookup(name, version)
	}
	if err != nil {
		r.mu.Lock()
		rerr := r.refreshErr
		r.mu.Unlock()
		if rerr != nil {
			// Not found in an index that could not be refreshed: say the
			// repository is away, which is what the user must act on.
			return archive{}, fmt.Errorf("%w (%v)", rerr, err)
		}
		return archive{}, err
	}
	if len(cv.URLs) == 0 {
		return archive{}, fmt.Errorf("%w: %s %s has no download URL in the index of %s", ErrInvalid, name, cv.Version, r.URL)
	}
	u, err := repo.ResolveReferenceURL(r.URL, cv.URLs[0])
	if err != nil {
		return archive{}, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	key := "repo:" + u + "@" + cv.Digest
	s.mu.Lock()
	a, ok := s.archives[key]
	s.mu.Unlock()
	if ok {
		return a, nil
	}
	v, err, _ := s.flight.Do(key, func() (any, error) { return get(ctx, r.client, u, r.credentialsFor(u)) })
	if err != nil {
		return archive{}, fmt.Errorf("download chart %s %s: %w", name, cv.Version, err)
	}
	a = archive{data: v.([]byte)}
	if want := strings.TrimPrefix(cv.Digest, "sha256:"); want != "" {
		sum := sha256.Sum256(a.data)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, want) {
			s.digestMismatch(r, name, cv.Version, want, got)
			if s.opts.VerifyDigest {
				return archive{}, fmt.Errorf("%w: chart %s %s from %s is sha256:%s, the index says sha256:%s (SDP_CHART_VERIFY_DIGEST refuses it)",
					ErrDigestMismatch, name, cv.Version, u, got, want)
			}
			a.warning = fmt.Sprintf("chart %s %s: the archive's digest (sha256:%s) differs from the repository index (sha256:%s); installed anyway, as Helm does",
				name, cv.Version, got, want)
		}
	}
	s.mu.Lock()
	s.archives[key] = a
	s.mu.Unlock()
	return a, nil
}

// digestMismatch logs and counts a mismatching archive once per chart,
// version and digest.
func (s *Source) digestMismatch(r *chartRepo, name, version, want, got string) {
	key := r.URL + "\x00" + name + "\x00" + version + "\x00" + got
	s.mu.Lock()
	seen := s.warned[key]
	s.warned[key] = true
	s.mu.Unlock()
	if seen {
		return
	}
	s.mismatches.Inc()
	s.opts.Log.Warn("chart archive digest differs from the repository index", "repository", r.Name, "url", r.URL,
		"chart", name, "version", version, "index_digest", want, "archive_digest", got, "refused", s.opts.VerifyDigest)
}

// credentialsFor gives the repository's credentials for u: only on the
// repository's own host unless PassCredentialsAll, as Helm does.
func (r *chartRepo) credentialsFor(u string) *url.Userinfo {
	if r.Username == "" && r.Password == "" {
		return nil
	}
	if !r.PassCredentialsAll {
		a, err1 := url.Parse(u)
		b, err2 := url.Parse(r.URL)
		if err1 != nil || err2 != nil || a.Host != b.Host {
			return nil
		}
	}
	return url.UserPassword(r.Username, r.Password)
}

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

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func get(ctx context.Context, client *http.Client, u string, user *url.Userinfo) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if user != nil {
		pw, _ := user.Password()
		req.SetBasicAuth(user.Username(), pw)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s answered 404", ErrNotFound, u)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: %s answered %s", ErrUnreachable, u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %v", ErrUnreachable, u, err)
	}
	return data, nil
}

// Run refreshes the index of every repository in use every Refresh period
// until ctx ends, calling OnIndexChange when one changed, and drops cached
// OCI pulls and URL downloads so that moved tags are seen. Repositories
// are refreshed side by side, so that one that is away does not hold up
// the others.
func (s *Source) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.Refresh)
	defer t.Stop()
	for {
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
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		for k := range s.archives {
			if strings.HasPrefix(k, "oci:") || strings.HasPrefix(k, "url:") {
				delete(s.archives, k)
			}
		}
		s.mu.Unlock()
	}
}
