package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

func cmChart(name, version string) *chart.Chart {
	return testrepo.New(name, version, nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	})
}

// server is a chart repository whose index can give digests that differ
// from the archives, and which counts requests and checks credentials.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	index    *repo.IndexFile
	files    map[string][]byte
	requests map[string]int
	user     string // basic auth user:password required when set
}

func newServer(t *testing.T) *server {
	s := &server{index: repo.NewIndexFile(), files: map[string][]byte{}, requests: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests[r.URL.Path]++
		if s.user != "" {
			u, p, _ := r.BasicAuth()
			if u+":"+p != s.user {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return
			}
		}
		if r.URL.Path == "/index.yaml" {
			b, _ := yaml.Marshal(s.index)
			_, _ = w.Write(b)
			return
		}
		data, ok := s.files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

// add publishes c; a digest is written into the index instead of the
// archive's own, except "sha256:", which prefixes the archive's own.
func (s *server) add(t *testing.T, c *chart.Chart, digest string) []byte {
	data := testrepo.Package(t, c)
	if digest == "" || digest == "sha256:" {
		sum := sha256.Sum256(data)
		digest += hex.EncodeToString(sum[:])
	}
	file := c.Metadata.Name + "-" + c.Metadata.Version + ".tgz"
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.index.MustAdd(c.Metadata, file, "", digest); err != nil {
		t.Fatal(err)
	}
	s.index.SortEntries()
	s.files[file] = data
	return data
}

func (s *server) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

func writeRepositories(t *testing.T, entries ...*repo.Entry) string {
	f := repo.NewFile()
	f.Add(entries...)
	path := filepath.Join(t.TempDir(), "repositories.yaml")
	if err := f.WriteFile(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newSource(t *testing.T, opts Options) *Source {
	t.Helper()
	opts.CacheDir = t.TempDir()
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every form of chart reference, through one Source configured with a
// default repository, a named one from the setting, one from a
// repositories.yaml, an OCI registry and a chart on disk.
func TestChartReferences(t *testing.T) {
	def, fromSetting, fromFile := newServer(t), newServer(t), newServer(t)
	def.add(t, cmChart("plain", "1.0.0"), "")
	fromSetting.add(t, cmChart("set", "1.1.0"), "")
	fromFile.add(t, cmChart("filed", "1.2.0"), "")
	fromFile.add(t, cmChart("set", "9.9.9"), "") // shadowed by the setting's repo "both"
	oci := testrepo.NewRegistry(t).Push(t, cmChart("pushed", "2.0.0"))
	local := testrepo.WriteDir(t, cmChart("ondisk", "3.0.0"))
	archiveURL := fromSetting.URL + "/set-1.1.0.tgz"

	yamlPath := writeRepositories(t,
		&repo.Entry{Name: "fromfile", URL: fromFile.URL},
		&repo.Entry{Name: "both", URL: fromFile.URL})
	s := newSource(t, Options{RepoURL: def.URL, PlainHTTPRegistry: true, RepositoryConfig: yamlPath,
		Repos: []Repository{{Name: "setting", URL: fromSetting.URL}, {Name: "both", URL: fromSetting.URL}}})
	ctx := context.Background()

	tests := []struct {
		name, ref, version string
		chart, ver         string // loaded chart name and version
		is                 error
		says               string
	}{
		{name: "default repository", ref: "plain", chart: "plain", ver: "1.0.0"},
		{name: "default repository, version", ref: "plain", version: "1.0.0", chart: "plain", ver: "1.0.0"},
		{name: "helmdeploy is the default repository", ref: "helmdeploy/plain", chart: "plain", ver: "1.0.0"},
		{name: "named repository from the setting", ref: "setting/set", chart: "set", ver: "1.1.0"},
		{name: "named repository from repositories.yaml", ref: "fromfile/filed", chart: "filed", ver: "1.2.0"},
		{name: "setting over repositories.yaml", ref: "both/set", chart: "set", ver: "1.1.0"},
		{name: "OCI", ref: oci, version: "2.0.0", chart: "pushed", ver: "2.0.0"},
		{name: "OCI with tag", ref: oci + ":2.0.0", chart: "pushed", ver: "2.0.0"},
		{name: "absolute local path", ref: local, chart: "ondisk", ver: "3.0.0"},
		{name: "file:// local path", ref: "file://" + local, chart: "ondisk", ver: "3.0.0"},
		{name: "archive URL", ref: archiveURL, chart: "set", ver: "1.1.0"},
		{name: "archive URL, wrong version", ref: archiveURL, version: "2.0.0", is: ErrInvalid, says: "not 2.0.0"},
		{name: "not in the default repository", ref: "nosuch", is: ErrNotFound, says: `no chart "nosuch" in the repository ` + def.URL},
		{name: "not in a named repository", ref: "setting/plain", is: ErrNotFound, says: `no chart "plain" in the repository ` + fromSetting.URL},
		{name: "version not in a named repository", ref: "fromfile/filed", version: "7.0.0", is: ErrNotFound, says: `version "7.0.0"`},
		{name: "unknown repository", ref: "nosuchrepo/c", is: ErrUnknownRepo,
			says: `"nosuchrepo" in "nosuchrepo/c": the known repositories are both, dask, fromfile, helmdeploy, setting`},
		{name: "a name with / that is no repository, not a path", ref: "charts/x", is: ErrUnknownRepo, says: "absolute path or file:///"},
		{name: "missing absolute path", ref: "/no/such/chart", is: ErrNotFound, says: "does not exist"},
		{name: "missing file:// path", ref: "file:///no/such/chart", is: ErrNotFound, says: "/no/such/chart does not exist"},
		{name: "relative path", ref: "./charts/x", is: ErrBadRef, says: "relative paths are not read"},
		{name: "parent path", ref: "../x", is: ErrBadRef, says: "relative paths are not read"},
		{name: "deep relative path", ref: "charts/examples/demo", is: ErrBadRef, says: "more than one '/'"},
		{name: "file:// relative", ref: "file://charts/x", is: ErrBadRef, says: "three slashes"},
		{name: "other scheme", ref: "s3://bucket/c", is: ErrBadRef, says: "unsupported scheme"},
		{name: "empty repo part", ref: "/", is: ErrBadRef, says: "root directory"},
		{name: "empty chart part", ref: "setting/", is: ErrBadRef, says: "needs both parts"},
		{name: "white space", ref: " plain", is: ErrBadRef, says: "white space"},
		{name: "bare oci://", ref: "oci://", is: ErrBadRef, says: "oci://<registry>/<path>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := s.Fetch(ctx, tt.ref, tt.version)
			if permanent := errors.Is(tt.is, ErrUnknownRepo) || errors.Is(tt.is, ErrBadRef); errors.Is(err, controller.ErrPermanent) != permanent {
				t.Errorf("Fetch(%q): %v, want permanent %v", tt.ref, err, permanent)
			}
			if tt.is != nil {
				if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.says) {
					t.Fatalf("Fetch(%q, %q) = %v, want %v saying %q", tt.ref, tt.version, err, tt.is, tt.says)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch(%q, %q): %v", tt.ref, tt.version, err)
			}
			if l.Chart.Metadata.Name != tt.chart || l.Chart.Metadata.Version != tt.ver || l.Warning != "" {
				t.Errorf("Fetch(%q) = %s %s (warning %q), want %s %s", tt.ref, l.Chart.Metadata.Name, l.Chart.Metadata.Version, l.Warning, tt.chart, tt.ver)
			}
		})
	}
}

// Which failures the work queue must not retry: those only a change of
// the entry or of the settings can fix.
func TestPermanentErrors(t *testing.T) {
	for _, tt := range []struct {
		err       error
		permanent bool
	}{
		{ErrUnknownRepo, true},
		{ErrBadRef, true},
		{ErrNotFound, false},
		{ErrUnreachable, false},
		{ErrInvalid, false},
		{ErrDigestMismatch, false},
	} {
		wrapped := errors.Join(errors.New("context"), tt.err)
		if got := errors.Is(wrapped, controller.ErrPermanent); got != tt.permanent {
			t.Errorf("%v: permanent %v, want %v", tt.err, got, tt.permanent)
		}
		if !errors.Is(wrapped, tt.err) {
			t.Errorf("%v does not match itself once wrapped", tt.err)
		}
	}
}

func TestPrecedenceAndDefaults(t *testing.T) {
	a, b, c := newServer(t), newServer(t), newServer(t)
	for _, srv := range []*server{a, b, c} {
		srv.add(t, cmChart("c", "0.1.0"), "")
	}
	// repositories.yaml overrides the dask default; the setting overrides
	// repositories.yaml's x; helmdeploy follows SDP_CHART_REPO_URL.
	yamlPath := writeRepositories(t, &repo.Entry{Name: "dask", URL: b.URL}, &repo.Entry{Name: "x", URL: b.URL})
	s := newSource(t, Options{RepoURL: a.URL, RepositoryConfig: yamlPath, Repos: []Repository{{Name: "x", URL: c.URL}}})
	got := s.Repositories()
	want := map[string]string{"helmdeploy": a.URL, "dask": b.URL, "x": c.URL}
	if len(got) != len(want) {
		t.Errorf("repositories %v, want %v", got, want)
	}
	for n, u := range want {
		if got[n] != u {
			t.Errorf("repository %s: %s, want %s", n, got[n], u)
		}
	}

	// Nothing configured: the Python deployer's repositories.
	s = newSource(t, Options{})
	got = s.Repositories()
	if got["helmdeploy"] != DefaultRepoURL || got["dask"] != DaskRepoURL || len(got) != 2 {
		t.Errorf("default repositories %v", got)
	}

	// A repositories.yaml naming helmdeploy as SDP_CHART_REPO_URL: one
	// index, read once.
	yamlPath = writeRepositories(t, &repo.Entry{Name: "helmdeploy", URL: a.URL + "/"})
	s = newSource(t, Options{RepoURL: a.URL, RepositoryConfig: yamlPath})
	for _, ref := range []string{"c", "helmdeploy/c"} {
		if _, err := s.Load(context.Background(), ref, ""); err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
	}
	if n := a.count("/index.yaml"); n != 1 {
		t.Errorf("index of a read %d times, want 1", n)
	}
}

// A named repository is read only once used, then refreshed with the
// others; one that is away costs nothing until used, and then reports
// ErrUnreachable (retried outside the attempt budget).
func TestNamedRepositoriesLazyAndRefreshed(t *testing.T) {
	def, named, never := newServer(t), newServer(t), newServer(t)
	def.add(t, cmChart("c", "0.1.0"), "")
	named.add(t, cmChart("n", "0.1.0"), "")
	s := newSource(t, Options{RepoURL: def.URL, MinRefresh: time.Nanosecond, Repos: []Repository{
		{Name: "named", URL: named.URL}, {Name: "never", URL: never.URL}, {Name: "away", URL: "http://127.0.0.1:1"}}})
	ctx := context.Background()
	if _, err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if def.count("/index.yaml") != 1 || named.count("/index.yaml") != 0 || never.count("/index.yaml") != 0 {
		t.Fatalf("index reads before use: default %d, named %d, never %d; want 1, 0, 0",
			def.count("/index.yaml"), named.count("/index.yaml"), never.count("/index.yaml"))
	}
	if _, err := s.Load(ctx, "named/n", ""); err != nil {
		t.Fatal(err)
	}
	// A chart published later is found on a miss (the index is read again).
	named.add(t, cmChart("later", "0.2.0"), "")
	if _, err := s.Load(ctx, "named/later", ""); err != nil {
		t.Fatalf("chart published after the first read: %v", err)
	}
	before := named.count("/index.yaml")
	changed, err := s.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if named.count("/index.yaml") != before+1 || never.count("/index.yaml") != 0 {
		t.Errorf("refresh read named %d times (want %d) and never %d times (want 0)", named.count("/index.yaml"), before+1, never.count("/index.yaml"))
	}
	if changed {
		t.Error("refresh with no index changed says changed")
	}
	named.add(t, cmChart("newer", "0.3.0"), "")
	if changed, err := s.Refresh(ctx); err != nil || !changed {
		t.Errorf("refresh after a publication: changed %v, %v", changed, err)
	}

	_, err = s.Load(ctx, "away/c", "")
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, controller.ErrPermanent) {
		t.Errorf("repository away: %v, want %v (not permanent)", err, ErrUnreachable)
	}
	// Once used, the repository that is away is refreshed too, and its
	// failure is reported without hiding the others' success.
	if _, err := s.Refresh(ctx); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "repository away") {
		t.Errorf("refresh with a repository away: %v", err)
	}
}

func TestDigestMismatch(t *testing.T) {
	srv := newServer(t)
	data := srv.add(t, cmChart("rebuilt", "1.0.0"), strings.Repeat("ab", 32))
	sum := sha256.Sum256(data)
	actual := hex.EncodeToString(sum[:])
	ctx := context.Background()

	var logs bytes.Buffer
	reg := prometheus.NewPedanticRegistry()
	s := newSource(t, Options{RepoURL: srv.URL, Registerer: reg, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Repos: []Repository{{Name: "other", URL: srv.URL + "/"}}})
	for _, ref := range []string{"rebuilt", "rebuilt", "helmdeploy/rebuilt"} {
		l, err := s.Fetch(ctx, ref, "")
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if l.Chart == nil || !strings.Contains(l.Warning, "sha256:"+actual) || !strings.Contains(l.Warning, "differs from the repository index") {
			t.Errorf("%s: warning %q", ref, l.Warning)
		}
	}
	if c, err := s.Load(ctx, "rebuilt", ""); err != nil || c.Metadata.Name != "rebuilt" {
		t.Errorf("Load: %v %v", c, err)
	}
	if n := strings.Count(logs.String(), "chart archive digest differs"); n != 1 {
		t.Errorf("%d warning lines, want 1:\n%s", n, logs.String())
	}
	if v := testutil.ToFloat64(s.mismatches); v != 1 {
		t.Errorf("mismatch counter %v, want 1", v)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}

	// Refused when asked, each time.
	s = newSource(t, Options{RepoURL: srv.URL, VerifyDigest: true})
	for range 2 {
		_, err := s.Fetch(ctx, "rebuilt", "")
		if !errors.Is(err, ErrDigestMismatch) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "SDP_CHART_VERIFY_DIGEST") {
			t.Errorf("verify: %v", err)
		}
	}

	// A matching archive has no warning; nor with the digest prefixed.
	good := newServer(t)
	good.add(t, cmChart("good", "1.0.0"), "")
	good.add(t, cmChart("prefixed", "1.0.0"), "sha256:")
	s = newSource(t, Options{RepoURL: good.URL, VerifyDigest: true})
	for _, ref := range []string{"good", "prefixed"} {
		if l, err := s.Fetch(ctx, ref, ""); err != nil || l.Warning != "" {
			t.Errorf("matching archive %s: %q %v", ref, l.Warning, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index.yaml" {
			_, _ = w.Write([]byte("apiVersion: v1\nentries:\n  c:\n  - name: c\n    version: 1.0.0\n    urls: [c-1.0.0.tgz]\n  nourl:\n  - name: nourl\n    version: 1.0.0\n"))
			return
		}
		_, _ = w.Write([]byte("not a tarball"))
	}))
	defer bad.Close()
	badIndex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("entries: [this is not an index"))
	}))
	defer badIndex.Close()
	ctx := context.Background()
	tests := []struct {
		name    string
		opts    Options
		ref     string
		version string
		is      error
		says    string
	}{
		{"repo unreachable", Options{RepoURL: "http://127.0.0.1:1"}, "c", "", ErrUnreachable, "read chart repository index"},
		{"not in index", Options{RepoURL: bad.URL}, "other", "", ErrNotFound, `no chart "other"`},
		{"version not in index", Options{RepoURL: bad.URL}, "c", "2.0.0", ErrNotFound, `version "2.0.0"`},
		{"archive broken", Options{RepoURL: bad.URL}, "c", "", ErrInvalid, "c"},
		{"no download URL", Options{RepoURL: bad.URL}, "nourl", "", ErrInvalid, "no download URL"},
		{"index broken", Options{RepoURL: badIndex.URL}, "c", "", ErrInvalid, "repository index"},
		{"named repo away", Options{RepoURL: bad.URL, Repos: []Repository{{Name: "r", URL: "http://127.0.0.1:1"}}}, "r/c", "", ErrUnreachable, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		s := newSource(t, tt.opts)
		_, err := s.Load(ctx, tt.ref, tt.version)
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: %v, want %v saying %q", tt.name, err, tt.is, tt.says)
		}
	}
}

func TestBadSettings(t *testing.T) {
	dir := t.TempDir()
	garbled := filepath.Join(dir, "garbled.yaml")
	if err := os.WriteFile(garbled, []byte("repositories: {not: [a list"), 0o600); err != nil {
		t.Fatal(err)
	}
	noURL := writeRepositories(t, &repo.Entry{Name: "x", URL: "ftp://x"})
	badCA := writeRepositories(t, &repo.Entry{Name: "tls", URL: "https://x", CAFile: filepath.Join(dir, "missing.pem")})
	for _, tt := range []struct {
		name string
		opts Options
		says string
	}{
		{"repositories.yaml garbled", Options{RepositoryConfig: garbled}, garbled},
		{"repositories.yaml bad URL", Options{RepositoryConfig: noURL}, `repository "x": URL "ftp://x"`},
		{"repositories.yaml CA file missing", Options{RepositoryConfig: badCA}, `chart repository "tls"`},
		{"bad default URL", Options{RepoURL: "not a url"}, "SDP_CHART_REPO_URL"},
	} {
		tt.opts.CacheDir = t.TempDir()
		_, err := New(tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: %v, want an error saying %q", tt.name, err, tt.says)
		}
	}
	// A missing repositories.yaml is no repositories, as for Helm.
	s := newSource(t, Options{RepositoryConfig: filepath.Join(dir, "absent.yaml")})
	if n := len(s.Repositories()); n != 2 {
		t.Errorf("%d repositories with no repositories.yaml, want the 2 defaults", n)
	}
}

func TestParseRepos(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
		says string
	}{
		{"", map[string]string{}, ""},
		{"dask=https://helm.dask.org/", map[string]string{"dask": "https://helm.dask.org/"}, ""},
		{" a = http://a , b=https://b/charts/,", map[string]string{"a": "http://a", "b": "https://b/charts/"}, ""},
		{"a", nil, "not name=url"},
		{"=http://a", nil, "must be non-empty"},
		{"a/b=http://a", nil, "without '/'"},
		{"a=http://a,a=http://b", nil, "given twice"},
		{"a=oci://r/c", nil, "http(s)://"},
		{"a=", nil, "http(s)://"},
		{"a,b=c", nil, `"a": not name=url` + "\n" + `"b=c"`},
	}
	for _, tt := range tests {
		got, err := ParseRepos(tt.in)
		if tt.says != "" {
			if err == nil || !strings.Contains(err.Error(), tt.says) || !strings.HasPrefix(err.Error(), "SDP_CHART_REPOS: ") {
				t.Errorf("ParseRepos(%q) = %v, want an error saying %q", tt.in, err, tt.says)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("ParseRepos(%q) = %v %v, want %v", tt.in, got, err, tt.want)
			continue
		}
		for _, r := range got {
			if tt.want[r.Name] != r.URL || r.From != "SDP_CHART_REPOS" {
				t.Errorf("ParseRepos(%q): %+v", tt.in, r)
			}
		}
	}
}

// repositories.yaml is found where Helm finds it.
func TestRepositoryConfigPath(t *testing.T) {
	t.Setenv("HELM_REPOSITORY_CONFIG", "")
	t.Setenv("HELM_CONFIG_HOME", "")
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if got := RepositoryConfigPath(); got != "/xdg/helm/repositories.yaml" {
		t.Errorf("XDG_CONFIG_HOME: %s", got)
	}
	t.Setenv("HELM_CONFIG_HOME", "/helmconf")
	if got := RepositoryConfigPath(); got != "/helmconf/repositories.yaml" {
		t.Errorf("HELM_CONFIG_HOME: %s", got)
	}
	t.Setenv("HELM_REPOSITORY_CONFIG", "/etc/helm/repos.yaml")
	if got := RepositoryConfigPath(); got != "/etc/helm/repos.yaml" {
		t.Errorf("HELM_REPOSITORY_CONFIG: %s", got)
	}
}

// Credentials from repositories.yaml go to the repository's own host.
func TestRepositoryCredentials(t *testing.T) {
	srv := newServer(t)
	srv.add(t, cmChart("secret", "1.0.0"), "")
	srv.user = "alice:s3cret"
	ctx := context.Background()
	s := newSource(t, Options{RepoURL: "http://127.0.0.1:1",
		RepositoryConfig: writeRepositories(t, &repo.Entry{Name: "private", URL: srv.URL, Username: "alice", Password: "s3cret"})})
	if _, err := s.Load(ctx, "private/secret", ""); err != nil {
		t.Errorf("with credentials: %v", err)
	}
	s = newSource(t, Options{RepoURL: "http://127.0.0.1:1", Repos: []Repository{{Name: "private", URL: srv.URL}}})
	if _, err := s.Load(ctx, "private/secret", ""); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "401") {
		t.Errorf("without credentials: %v", err)
	}
	r := &chartRepo{Repository: Repository{URL: "https://charts.example/x", Username: "u", Password: "p"}}
	if r.credentialsFor("https://cdn.example/x.tgz") != nil || r.credentialsFor("https://charts.example/x/c.tgz") == nil {
		t.Error("credentials go to other hosts, or not to the repository's")
	}
	r.PassCredentialsAll = true
	if r.credentialsFor("https://cdn.example/x.tgz") == nil {
		t.Error("pass_credentials_all ignored")
	}
}
