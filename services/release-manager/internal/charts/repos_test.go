// Tests of the repository settings: named repositories and the
// repositories file, their parsing, path and credentials.

package charts

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/repo"
)

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
