package charts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/helmpath"
	"helm.sh/helm/v3/pkg/repo"
)

// The Python deployer's repositories: it ran `helm repo add helmdeploy
// $SDP_CHART_REPO_URL` (with this URL when unset) and `helm repo add dask
// https://helm.dask.org/`, so entries written for it name charts as
// "<chart>", "helmdeploy/<chart>" and "dask/<chart>".
const (
	DefaultRepoURL  = "https://gitlab.com/ska-telescope/sdp/ska-sdp-helmdeploy-charts/-/raw/master/chart-repo/"
	DefaultRepoName = "helmdeploy"
	DaskRepoURL     = "https://helm.dask.org/"
)

// Repository is a named chart repository and how to talk to it: the
// fields of an entry of Helm's repositories.yaml that matter for reading.
type Repository struct {
	Name, URL          string
	Username, Password string
	// CertFile and KeyFile are a client certificate; CAFile the CAs.
	CertFile, KeyFile, CAFile string
	InsecureSkipTLSVerify     bool
	// PassCredentialsAll sends the credentials to archive URLs on other
	// hosts too (as Helm's --pass-credentials).
	PassCredentialsAll bool
	// From says where it was configured, for logs and errors.
	From string
}

// ParseRepos reads SDP_CHART_REPOS: name=url pairs separated by commas.
func ParseRepos(s string) ([]Repository, error) {
	var (
		out  []Repository
		seen = map[string]bool{}
		errs []error
	)
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, u, ok := strings.Cut(item, "=")
		name, u = strings.TrimSpace(name), strings.TrimSpace(u)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%q: not name=url", item))
			continue
		case name == "" || strings.ContainsAny(name, "/ \t"):
			errs = append(errs, fmt.Errorf("%q: the name must be non-empty, without '/' or white space", item))
			continue
		case seen[name]:
			errs = append(errs, fmt.Errorf("%q: repository %q given twice", item, name))
			continue
		}
		if err := checkRepoURL(u); err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", item, err))
			continue
		}
		seen[name] = true
		out = append(out, Repository{Name: name, URL: u, From: "SDP_CHART_REPOS"})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("SDP_CHART_REPOS: %w", err)
	}
	return out, nil
}

func checkRepoURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("bad URL: %w", err)
	}
	if p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
		return fmt.Errorf("URL %q: a chart repository URL is http(s)://<host>/[<path>]", u)
	}
	return nil
}

// RepositoryConfigPath is where Helm finds repositories.yaml: the
// HELM_REPOSITORY_CONFIG variable, else repositories.yaml in Helm's
// configuration directory ($HELM_CONFIG_HOME, else $XDG_CONFIG_HOME/helm,
// else ~/.config/helm on Linux).
func RepositoryConfigPath() string {
	if p, ok := os.LookupEnv("HELM_REPOSITORY_CONFIG"); ok && p != "" {
		return p
	}
	return helmpath.ConfigPath("repositories.yaml")
}

// LoadRepositoryConfig reads the repositories of a Helm repositories.yaml.
// A missing file is no repositories, as for Helm.
func LoadRepositoryConfig(path string) ([]Repository, error) {
	if path == "" {
		return nil, nil
	}
	f, err := repo.LoadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("helm repositories file %s: %w", path, err)
	}
	var (
		out  []Repository
		errs []error
	)
	for _, e := range f.Repositories {
		if e == nil {
			continue
		}
		if e.Name == "" || strings.Contains(e.Name, "/") {
			errs = append(errs, fmt.Errorf("repository name %q: must be non-empty, without '/'", e.Name))
			continue
		}
		if err := checkRepoURL(e.URL); err != nil {
			errs = append(errs, fmt.Errorf("repository %q: %w", e.Name, err))
			continue
		}
		out = append(out, Repository{Name: e.Name, URL: e.URL, Username: e.Username, Password: e.Password,
			CertFile: e.CertFile, KeyFile: e.KeyFile, CAFile: e.CAFile, InsecureSkipTLSVerify: e.InsecureSkipTLSverify,
			PassCredentialsAll: e.PassCredentialsAll, From: path})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("helm repositories file %s: %w", path, err)
	}
	return out, nil
}

// mergeRepos applies the precedence: the setting (SDP_CHART_REPOS) over
// repositories.yaml over the defaults.
func mergeRepos(layers ...[]Repository) map[string]Repository {
	out := map[string]Repository{}
	for i := len(layers) - 1; i >= 0; i-- {
		for _, r := range layers[i] {
			out[r.Name] = r
		}
	}
	return out
}

func sortedNames(m map[string]*chartRepo) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// httpClient is base, with the repository's TLS settings if it has any.
func (r Repository) httpClient(base *http.Client) (*http.Client, error) {
	if r.CertFile == "" && r.KeyFile == "" && r.CAFile == "" && !r.InsecureSkipTLSVerify {
		return base, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: r.InsecureSkipTLSVerify} //nolint:gosec // the operator's choice in repositories.yaml
	if r.CertFile != "" || r.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("repository %q: client certificate: %w", r.Name, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, fmt.Errorf("repository %q: CA file: %w", r.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("repository %q: CA file %s holds no PEM certificate", r.Name, r.CAFile)
		}
		cfg.RootCAs = pool
	}
	var tr *http.Transport
	if t, ok := base.Transport.(*http.Transport); ok {
		tr = t.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.TLSClientConfig = cfg
	c := *base
	c.Transport = tr
	return &c, nil
}
