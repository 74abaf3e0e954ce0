package app

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// startWith runs a release-manager as the leader with opts changed by
// set, as start does with the defaults.
func (e *testEnv) startWith(set func(*Options)) (stop func()) {
	e.t.Helper()
	rt := etcdtest.Runtime(e.t, "release-manager", e.env, e.newStore())
	e.rt = rt
	opts := Options{PlainHTTPRegistry: true, CacheDir: e.t.TempDir(), Resync: time.Minute,
		RepositoryConfig: filepath.Join(e.t.TempDir(), "no-repositories.yaml")}
	set(&opts)
	lead, err := New(rt, e.cfg, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return servicetest.RunLead(e.t, rt.Context(), lead)
}

// mismatchRepo serves one chart whose index digest is not the archive's,
// as a repository whose index was written before the archive was rebuilt.
func mismatchRepo(t *testing.T, name string) string {
	c := testrepo.New(name, "0.1.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  from: rebuilt\n",
	})
	data := testrepo.Package(t, c)
	idx := repo.NewIndexFile()
	file := name + "-0.1.0.tgz"
	if err := idx.MustAdd(c.Metadata, file, "", strings.Repeat("0", 64)); err != nil {
		t.Fatal(err)
	}
	index, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			_, _ = w.Write(index)
		case "/" + file:
			_, _ = w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(data)
	t.Logf("archive sha256:%s, index says sha256:%s", hex.EncodeToString(sum[:]), strings.Repeat("0", 64))
	return srv.URL
}

// <repo>/<chart> from a second chart repository over HTTP, named by the
// setting and by a Helm repositories.yaml, through the real
// release-manager against the real control plane; an unknown repository
// is a state error naming the known ones, not retried; an archive whose
// digest differs from its index is installed, and counted.
func TestChartReferencesFromNamedRepositories(t *testing.T) {
	e := newEnv(t)
	// The same chart name in the default repository and in the second
	// one, with different content, so that the test sees which was used.
	e.repo.Add(testrepo.New("twin", "0.1.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  from: default\n",
	}))
	second := testrepo.NewRepo(t)
	second.Add(testrepo.New("twin", "0.2.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  from: second\n",
	}))
	third := testrepo.NewRepo(t)
	third.Add(testrepo.New("twin", "0.3.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  from: third\n",
	}))
	rebuilt := mismatchRepo(t, "rebuilt")

	// repositories.yaml, as `helm repo add` writes it: "viafile" is only
	// there; "second" is there too but the setting wins.
	f := repo.NewFile()
	f.Add(&repo.Entry{Name: "viafile", URL: third.URL}, &repo.Entry{Name: "second", URL: third.URL})
	repoFile := filepath.Join(t.TempDir(), "repositories.yaml")
	if err := f.WriteFile(repoFile, 0o600); err != nil {
		t.Fatal(err)
	}
	e.startWith(func(o *Options) {
		o.ChartRepos = fmt.Sprintf("second=%s,rebuilt=%s", second.URL, rebuilt)
		o.RepositoryConfig = repoFile
	})

	e.put("plain", entry("plain", "twin", "{}"))
	e.put("helmdeploy", entry("helmdeploy", "helmdeploy/twin", "{}"))
	e.put("named", entry("named", "second/twin", "{}"))
	e.put("viafile", entry("viafile", "viafile/twin", "{}"))
	e.put("mismatch", entry("mismatch", "rebuilt/rebuilt", "{}"))
	e.put("unknown", entry("unknown", "nosuchrepo/twin", "{}"))
	e.put("notapath", entry("notapath", "charts/twin", "{}"))

	for id, from := range map[string]string{"plain": "default", "helmdeploy": "default", "named": "second", "viafile": "third", "mismatch": "rebuilt"} {
		e.waitState(id, "installed", deployedAt(1))
		if cm, err := e.configMap("sdp-" + id); err != nil || cm.Data["from"] != from {
			t.Errorf("%s: chart from %v, want from %s (%v)", id, cm.Data, from, err)
		}
	}
	for _, id := range []string{"unknown", "notapath"} {
		st := e.waitState(id, "unknown repository reported", hasError)
		for _, want := range []string{"unknown chart repository", "known repositories are dask, helmdeploy, rebuilt, second, viafile", "absolute path"} {
			if !strings.Contains(st.Release.Error, want) {
				t.Errorf("%s: error %q does not say %q", id, st.Release.Error, want)
			}
		}
	}
	if v := counter(t, e, "sdp_helmdeploy_release_manager_chart_digest_mismatch_total", ""); v != 1 {
		t.Errorf("digest mismatch counter %v, want 1", v)
	}

	// Not retried: the unknown repository is a permanent failure, once per
	// entry, and no more reconciles fail as time passes.
	time.Sleep(2 * time.Second)
	permanent := counter(t, e, "sdp_helmdeploy_release_manager_reconciles_total", "permanent")
	if permanent < 2 {
		t.Errorf("%v permanent failures, want one for each of the 2 entries", permanent)
	}
	time.Sleep(3 * time.Second)
	if again := counter(t, e, "sdp_helmdeploy_release_manager_reconciles_total", "permanent"); again > permanent+2 {
		t.Errorf("permanent failures went from %v to %v: retried", permanent, again)
	}
	if n := counter(t, e, "sdp_helmdeploy_release_manager_reconciles_total", "error"); n != 0 {
		t.Errorf("%v retried failures, want 0", n)
	}
	// Fixing the entry brings it back.
	e.put("unknown", entry("unknown", "second/twin", "{}"))
	e.waitState("unknown", "installed once the entry names a known repository", deployedAt(1))
}

// Bad repository settings stop the release-manager at start with an
// error that names them, rather than failing every entry later.
func TestBadChartRepositorySettings(t *testing.T) {
	e := newEnv(t)
	garbled := filepath.Join(t.TempDir(), "repositories.yaml")
	if err := os.WriteFile(garbled, []byte("repositories: [{"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		opts Options
		says string
	}{
		{"SDP_CHART_REPOS", Options{ChartRepos: "dask"}, `SDP_CHART_REPOS: "dask": not name=url`},
		{"repositories.yaml", Options{RepositoryConfig: garbled}, garbled},
	} {
		tt.opts.CacheDir = t.TempDir()
		rt := etcdtest.Runtime(t, "release-manager", e.env, e.newStore())
		if _, err := New(rt, e.cfg, tt.opts); err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: %v, want an error saying %q", tt.name, err, tt.says)
		}
	}
}

// counter is the value of a counter the release-manager exports, the
// series whose "result" label is result (any series when result is "").
func counter(t *testing.T, e *testEnv, name, result string) float64 {
	t.Helper()
	families, err := e.rt.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if result == "" || slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == "result" && l.GetValue() == result
			}) {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{result=%q}", name, result)
	return 0
}

// The settings come from the environment, as the SDP_* variables do.
func TestChartSettingsFromEnvironment(t *testing.T) {
	t.Setenv("SDP_CHART_REPOS", "dask=https://dask.example/")
	t.Setenv("SDP_CHART_VERIFY_DIGEST", "true")
	var o Options
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	o.Bind(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if o.ChartRepos != "dask=https://dask.example/" || !o.VerifyDigest || o.envErr != nil {
		t.Errorf("from the environment: %+v", o)
	}
	// A flag given wins over the environment.
	o = Options{}
	fs = flag.NewFlagSet("rm", flag.ContinueOnError)
	o.Bind(fs)
	if err := fs.Parse([]string{"-chart-verify-digest=false", "-chart-repos=x=http://x"}); err != nil {
		t.Fatal(err)
	}
	if o.VerifyDigest || o.ChartRepos != "x=http://x" {
		t.Errorf("flags over the environment: %+v", o)
	}
	t.Setenv("SDP_CHART_VERIFY_DIGEST", "sometimes")
	o = Options{}
	o.Bind(flag.NewFlagSet("rm", flag.ContinueOnError))
	if o.envErr == nil || !strings.Contains(o.envErr.Error(), `SDP_CHART_VERIFY_DIGEST="sometimes"`) {
		t.Errorf("bad SDP_CHART_VERIFY_DIGEST: %v", o.envErr)
	}
}
