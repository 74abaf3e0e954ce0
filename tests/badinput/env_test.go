package badinput

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/repo"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// namespace is the processing namespace (deploy/namespace.yaml's).
const namespace = "sdp"

var services = []string{"release-manager", "pod-monitor", "resource-monitor"}

// env is everything a case runs against: a config DB etcd of its own, the
// shared local control plane with deploy/ applied, a chart repository of
// testdata/charts (plus broken index entries) and the three service
// binaries.
type env struct {
	t    *testing.T
	ctx  context.Context
	kv   *clientv3.Client
	cp   *localcp.ControlPlane
	cs   kubernetes.Interface
	dyn  dynamic.Interface
	repo string
	// deadAddr is a loopback address nobody listens on: a chart source
	// that is away.
	deadAddr string
	procs    map[string]*servicetest.Proc
	bins     map[string]string
	args     map[string][]string
	env      []string
}

func startEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, ctx: ctx, procs: map[string]*servicetest.Proc{}, bins: map[string]string{}, args: map[string][]string{}}
	e.cp = cptest.Get(t)
	etcd := etcdtest.Start(t)
	e.kv = etcd.Client(t)
	cfg := e.cp.RESTConfig()
	e.cs = kubernetes.NewForConfigOrDie(cfg)
	e.dyn = dynamic.NewForConfigOrDie(cfg)

	root := repoRoot(t)
	// deploy/ is what a dev cluster gets: the namespace, the NAD CRD and
	// the example NADs (which the resource-monitor mirrors alongside).
	if err := manifests.Apply(ctx, cfg, filepath.Join(root, "deploy"), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("apply deploy/: %v", err)
	}
	e.deadAddr = deadAddr(t)
	e.repo = serveRepo(t, e.deadAddr)

	e.env = []string{
		"KUBECONFIG=" + e.cp.KubeconfigPath,
		"SDP_CONFIG_HOST=127.0.0.1",
		"SDP_CONFIG_PORT=" + strconv.Itoa(etcd.Port),
		"SDP_HELM_NAMESPACE=" + namespace,
		"SDP_HELM_TIMEOUT=60",
		"SDP_CHART_REPO_URL=" + e.repo,
		"SDP_CHART_REPO_REFRESH=5",
		"SDP_LOG_LEVEL=INFO",
	}
	for _, s := range services {
		e.bins[s] = servicetest.Build(t, filepath.Join(root, "services", s, "cmd", s))
		if s == "release-manager" {
			e.args[s] = []string{"--cache-dir=" + t.TempDir()}
		}
		e.procs[s] = servicetest.Start(t, e.bins[s], e.env, e.args[s]...)
	}
	for _, s := range services {
		e.procs[s].WaitFor(t, "/readyz", 200, "ok", 90*time.Second)
	}
	return e
}

// restart stops a service with SIGTERM, checks that it exited 0, and starts
// it again, waiting until it is ready.
func (e *env) restart(s string) {
	e.t.Helper()
	if code := e.procs[s].Stop(e.t, 30*time.Second); code != 0 {
		e.t.Errorf("%s exited %d after SIGTERM", s, code)
	}
	e.procs[s] = servicetest.Start(e.t, e.bins[s], e.env, e.args[s]...)
	e.procs[s].WaitFor(e.t, "/readyz", 200, "ok", 90*time.Second)
}

// stop sends SIGTERM to every service and checks that each exits 0: a
// service that took all the bad input must still stop cleanly.
func (e *env) stop() {
	for _, s := range e.names() {
		if code := e.procs[s].Stop(e.t, 30*time.Second); code != 0 {
			e.t.Errorf("%s exited %d after SIGTERM", s, code)
		}
	}
}

// names are the running processes' names: the three services and any a
// case started besides.
func (e *env) names() []string {
	names := make([]string, 0, len(e.procs))
	for n := range e.procs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// startExtra starts another instance of a service binary, with settings
// that override the shared ones, as the process name; it is checked and
// stopped with the others.
func (e *env) startExtra(name, service string, settings []string, args ...string) *servicetest.Proc {
	e.t.Helper()
	p := servicetest.Start(e.t, e.bins[service], append(append([]string{}, e.env...), settings...), args...)
	e.procs[name] = p
	p.WaitFor(e.t, "/readyz", 200, "ok", 90*time.Second)
	return p
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	return root
}

// deadAddr returns a loopback address that was just free and is left
// unbound: connections to it are refused at once.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// serveRepo packages testdata/charts as a chart repository, adds index
// entries that point at a corrupt archive, at an archive whose digest does
// not match, and at a host that is away, and serves it on loopback until
// the test ends.
func serveRepo(t *testing.T, away string) string {
	t.Helper()
	out := t.TempDir()
	if err := testrepo.PackageRepo("testdata/charts", out); err != nil {
		t.Fatalf("package testdata/charts: %v", err)
	}
	indexPath := filepath.Join(out, "index.yaml")
	index, err := repo.LoadIndexFile(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	meta := func(name string) *chart.Metadata {
		return &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: "1.0.0", Type: "application"}
	}
	garbage := []byte("this is not a gzipped tar archive\n")
	if err := os.WriteFile(filepath.Join(out, "corrupt-1.0.0.tgz"), garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(garbage)
	add := func(name, file, base, digest string) {
		if err := index.MustAdd(meta(name), file, base, digest); err != nil {
			t.Fatalf("index entry %s: %v", name, err)
		}
	}
	add("corrupt", "corrupt-1.0.0.tgz", "", hex.EncodeToString(sum[:]))
	good := index.Entries["good-receive"][0]
	add("tampered", good.URLs[0], "", strings.Repeat("0", 64))
	add("away", "away-1.0.0.tgz", "http://"+away, "")
	index.SortEntries()
	if err := index.WriteFile(indexPath, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(out)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// rawKey is the etcd key of a config DB path as ska-sdp-config tags it
// (the number of '/' in the path, then the path). The catalogue writes raw
// keys on purpose, as a script would, so that keys the typed API would
// refuse to build can be written too.
func rawKey(path string) string { return strconv.Itoa(strings.Count(path, "/")) + path }

func (e *env) put(key, value string) error {
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	_, err := e.kv.Put(ctx, key, value)
	return err
}

// get returns the raw value of a key and whether it exists.
func (e *env) get(key string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	resp, err := e.kv.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return "", false, err
	}
	return string(resp.Kvs[0].Value), true, nil
}

// deploymentJSON is a deployment entry as a script writes it.
func deploymentJSON(id, chart string, values map[string]any) string {
	b, err := json.Marshal(map[string]any{"key": id, "kind": "helm", "args": map[string]any{"chart": chart, "values": values}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// state is the parts of a state entry the catalogue reads.
type state struct {
	Pods    map[string]string `json:"pods"`
	Release struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"release"`
}

func (e *env) state(id string) (state, bool, error) { return e.stateAt("", id) }

// stateAt reads a state entry under a global config DB prefix.
func (e *env) stateAt(prefix, id string) (state, bool, error) {
	var st state
	v, ok, err := e.get(rawKey(prefix + "/deploy/" + id + "/state"))
	if err != nil || !ok {
		return st, ok, err
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, true, fmt.Errorf("state of %s: %w", id, err)
	}
	return st, true, nil
}

// alive checks that every service is still running and healthy, and has
// logged no panic or fatal error.
func (e *env) alive() error {
	for _, s := range e.names() {
		p := e.procs[s]
		if err := syscall.Kill(p.PID(), 0); err != nil {
			return fmt.Errorf("%s (pid %d) is gone: %v", s, p.PID(), err)
		}
		code, body, err := p.Get("/healthz")
		if err != nil || code != 200 {
			return fmt.Errorf("%s /healthz: %d %q %v", s, code, body, err)
		}
		logs := strings.ToLower(p.Logs())
		for _, bad := range []string{"panic", "fatal", "goroutine "} {
			if i := strings.Index(logs, bad); i >= 0 {
				return fmt.Errorf("%s logged %q: %s", s, bad, excerpt(p.Logs(), i))
			}
		}
	}
	return nil
}

func excerpt(s string, i int) string {
	start, end := max(0, i-200), min(len(s), i+300)
	return s[start:end]
}

// metric returns the value of one series from a service's /metrics, 0
// when absent.
func (e *env) metric(service string, s series) (float64, error) {
	m, err := e.procs[service].Metrics()
	if err != nil {
		return 0, fmt.Errorf("%s /metrics: %w", service, err)
	}
	v, _ := m.Value(s.name, "reason", s.reason)
	return v, nil
}

// poll calls f until it reports done or timeout passes.
func poll(timeout time.Duration, f func() bool) bool {
	return eventually.Poll(context.Background(), timeout, 100*time.Millisecond, func(context.Context) error {
		if !f() {
			return errNotYet
		}
		return nil
	}) == nil
}

var errNotYet = errors.New("not yet")
