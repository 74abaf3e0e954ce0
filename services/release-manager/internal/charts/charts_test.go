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
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

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
