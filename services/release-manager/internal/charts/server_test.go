// The charts tests' chart repository: an HTTP server of charts and an
// index, counting requests per path.

package charts

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

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
