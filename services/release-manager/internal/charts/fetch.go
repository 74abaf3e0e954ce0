// Fetching an archive: from a local path, an OCI registry, a URL or a
// repository (its index entry, digest check, credentials), and the cache
// of archives as bytes.

package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
)

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
