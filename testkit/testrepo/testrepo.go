// Package testrepo serves real charts for tests, benchmarks and the demo: a
// Helm chart repository over HTTP (an index.yaml and packaged charts, from
// charts made in the test or from a directory of chart sources) and an OCI
// registry (go-containerregistry's in-memory registry), all on loopback.
//
// It is part of the test kit, which requires nothing of the product;
// docs/architecture.md, §1. The rooms.
package testrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	helmregistry "helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// Repo is a chart repository served over HTTP.
type Repo struct {
	URL string
	// Down makes the server answer 503, as a repository that is away.
	Down atomic.Bool

	t      testing.TB
	mu     sync.Mutex
	index  *repo.IndexFile
	files  map[string][]byte
	server *httptest.Server
}

// NewRepo starts an empty repository, closed at the end of the test.
func NewRepo(t testing.TB) *Repo {
	r := &Repo{t: t, index: repo.NewIndexFile(), files: map[string][]byte{}}
	r.server = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.server.URL
	t.Cleanup(r.server.Close)
	return r
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	if r.Down.Load() {
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	name := strings.TrimPrefix(req.URL.Path, "/")
	if name == "index.yaml" {
		b, err := yaml.Marshal(r.index)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(b)
		return
	}
	data, ok := r.files[name]
	if !ok {
		http.NotFound(w, req)
		return
	}
	_, _ = w.Write(data)
}

// Add packages a chart and publishes it in the index.
func (r *Repo) Add(c *chart.Chart) {
	r.t.Helper()
	data := Package(r.t, c)
	sum := sha256.Sum256(data)
	file := c.Metadata.Name + "-" + c.Metadata.Version + ".tgz"
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.index.MustAdd(c.Metadata, file, "", hex.EncodeToString(sum[:])); err != nil {
		r.t.Fatal(err)
	}
	r.index.SortEntries()
	r.files[file] = data
}

// Package returns a chart as a .tgz archive.
func Package(t testing.TB, c *chart.Chart) []byte {
	t.Helper()
	dir := t.TempDir()
	path, err := chartutil.Save(c, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// LoadDir loads a chart directory (such as charts/examples/demo-receive).
func LoadDir(t testing.TB, dir string) *chart.Chart {
	t.Helper()
	c, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// New builds a chart in memory from templates (file name → body).
func New(name, version string, values map[string]any, templates map[string]string) *chart.Chart {
	c := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: name, Version: version, AppVersion: version}, Values: values}
	// Packaging writes values.yaml from the raw file, not from Values.
	raw, err := yaml.Marshal(values)
	if err != nil {
		panic(err)
	}
	c.Raw = append(c.Raw, &chart.File{Name: chartutil.ValuesfileName, Data: raw})
	for n, body := range templates {
		c.Templates = append(c.Templates, &chart.File{Name: "templates/" + n, Data: []byte(body)})
	}
	return c
}

// SmallChart is one ConfigMap and one Pod named after the release, the
// Pod's image a value: the smallest release that still makes Helm create,
// wait on and record objects of two kinds. The benchmarks deploy it.
func SmallChart(name, version string) *chart.Chart {
	return New(name, version, map[string]any{"image": "registry.invalid/x:1"}, map[string]string{
		"cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: b\n",
		"pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    app.kubernetes.io/instance: {{ .Release.Name }}\nspec:\n  containers:\n  - name: c\n    image: {{ .Values.image }}\n",
	})
}

// Registry is an OCI registry on loopback, plain HTTP.
type Registry struct {
	// Host is 127.0.0.1:<port>.
	Host string
}

// NewRegistry starts an in-memory OCI registry, closed at the end of the
// test.
func NewRegistry(t testing.TB) *Registry {
	srv := httptest.NewServer(registry.New(registry.Logger(nopLogger())))
	t.Cleanup(srv.Close)
	return &Registry{Host: strings.TrimPrefix(srv.URL, "http://")}
}

// Push pushes a chart as oci://<host>/charts/<name>:<version> and returns
// the reference without the tag.
func (g *Registry) Push(t testing.TB, c *chart.Chart) string {
	t.Helper()
	client, err := helmregistry.NewClient(helmregistry.ClientOptPlainHTTP(), helmregistry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ref := g.Host + "/charts/" + c.Metadata.Name
	if _, err := client.Push(Package(t, c), ref+":"+c.Metadata.Version); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return "oci://" + ref
}

// WriteDir writes a chart to a directory and returns its path, for local
// chart path tests.
func WriteDir(t testing.TB, c *chart.Chart) string {
	t.Helper()
	dir := t.TempDir()
	if err := chartutil.SaveDir(c, dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, c.Metadata.Name)
}
