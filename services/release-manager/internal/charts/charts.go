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
//
// The reconciler calls it before an install or upgrade: docs/architecture.md, §4. From an entry to a release and a state, step 4.
package charts

import (
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

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
	"helm.sh/helm/v3/pkg/chart"
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
