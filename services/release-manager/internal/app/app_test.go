package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/clustertest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/testrepo"
)

// Integration tests: the release-manager as it runs in production — real
// etcd, the local control plane's kube-apiserver, a chart repository over
// HTTP and an OCI registry — driven through raw config DB entries the way
// a processing script writes them.

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

func TestLifecycleOfReleases(t *testing.T) {
	e := newEnv(t)
	e.put("before", entry("before", "cm", `{"replicas": 2}`))
	stop := e.start()
	e.waitState("before", "installed", deployedAt(1))
	if cm, err := e.configMap("sdp-before"); err != nil || cm.Data["replicas"] != "2" {
		t.Errorf("configmap: %v %v", cm, err)
	}

	// Every old and new field name, and dotted values.
	names := map[string]string{
		"f-key":       `{"key": "f-key", "kind": "helm", "args": {"chart": "cm", "values": {"worker.threads": 4}}}`,
		"f-id":        `{"id": "f-id", "type": "helm", "args": {"chart": "cm", "values": {"worker.threads": 4}}}`,
		"f-dpl-id":    `{"dpl_id": "f-dpl-id", "kind": "helm", "args": {"chart": "cm", "values": {"worker.threads": 4}}}`,
		"f-deploy-id": `{"deploy_id": "f-deploy-id", "type": "helm", "args": {"chart": "cm", "values": {"worker.threads": 4}}}`,
	}
	for id, body := range names {
		e.put(id, body)
	}
	e.put("other-kind", `{"key": "other-kind", "kind": "slurm", "args": {"chart": "cm"}}`)
	for id := range names {
		e.waitState(id, "installed", deployedAt(1))
		if cm, err := e.configMap("sdp-" + id); err != nil || cm.Data["threads"] != "4" {
			t.Errorf("%s: dotted value not applied: %v %v", id, cm, err)
		}
	}
	if _, err := e.configMap("sdp-other-kind"); err == nil {
		t.Error("an entry of another kind was installed")
	}

	// A change: exactly one new revision.
	e.put("before", entry("before", "cm", `{"replicas": 3}`))
	e.waitState("before", "upgraded", deployedAt(2))
	if cm, _ := e.configMap("sdp-before"); cm.Data["replicas"] != "3" {
		t.Errorf("upgrade not applied: %v", cm.Data)
	}
	e.put("before", entry("before", "cm", `{"replicas":3}`))
	time.Sleep(time.Second)
	if n := e.revisions("sdp-before"); n != 2 {
		t.Errorf("%d revisions, want 2", n)
	}

	// Restart: no revision churn.
	stop()
	e.start()
	time.Sleep(2 * time.Second)
	if n := e.revisions("sdp-before"); n != 2 {
		t.Errorf("%d revisions after restart, want 2", n)
	}
	if n := e.revisions("sdp-f-key"); n != 1 {
		t.Errorf("%d revisions of f-key after restart, want 1", n)
	}

	// Uninstall, and no state left.
	e.del("before")
	e.waitState("before", "state removed", func(_ configdb.DeploymentState, found bool) bool { return !found })
	eventually.Eventually(t, 30*time.Second, func() error {
		if n := e.revisions("sdp-before"); n != 0 {
			return fmt.Errorf("uninstalled release has %d revisions", n)
		}
		return nil
	})
	if _, err := e.configMap("sdp-before"); err == nil {
		t.Error("the release's ConfigMap is still there")
	}
	problems, err := testutil.GatherAndLint(e.rt.Registry)
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

func TestChartSources(t *testing.T) {
	e := newEnv(t)
	ociRef := e.oci.Push(t, testrepo.New("oci-chart", "1.0.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  from: oci\n",
	}))
	local := testrepo.WriteDir(t, testrepo.New("local-chart", "1.0.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  from: local\n",
	}))
	e.start()
	e.put("from-oci", fmt.Sprintf(`{"key": "from-oci", "kind": "helm", "args": {"chart": %q, "version": "1.0.0"}}`, ociRef))
	e.put("from-path", entry("from-path", local, "{}"))
	e.put("from-repo", entry("from-repo", "demo-receive", `{"replicas": 0}`))
	for _, id := range []string{"from-oci", "from-path", "from-repo"} {
		e.waitState(id, "installed", deployedAt(1))
	}
	if cm, err := e.configMap("sdp-from-oci"); err != nil || cm.Data["from"] != "oci" {
		t.Errorf("oci chart: %v %v", cm, err)
	}
	// A chart published after the entry was written is picked up.
	e.put("late", entry("late", "late-chart", "{}"))
	e.waitState("late", "missing chart reported", hasError)
	e.repo.Add(testrepo.New("late-chart", "0.1.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	}))
	e.put("late", entry("late", "late-chart", `{"x": 1}`))
	e.waitState("late", "installed once published", deployedAt(1))
}

func TestBadInputs(t *testing.T) {
	e := newEnv(t)
	e.start()
	long := strings.Repeat("a", 60)
	cases := []struct{ id, body, says string }{
		{"bad-json", `{"key": "bad-json", "kind": "helm", "args": {"chart": `, "not valid JSON"},
		{"Bad-Case", entry("Bad-Case", "cm", "{}"), "invalid release name"},
		{long, entry(long, "cm", "{}"), "at most 53"},
		{"unknown-chart", entry("unknown-chart", "no-such-chart", "{}"), `no chart "no-such-chart"`},
		{"rejected-values", entry("rejected-values", "strict", `{"replicas": "many"}`), "replicas"},
		{"api-rejects", entry("api-rejects", "named", `{"name": "Not_A_Valid_Name"}`), "Not_A_Valid_Name"},
		{"cluster-scoped", entry("cluster-scoped", "cluster", "{}"), "is cluster-scoped"},
		{"other-namespace", entry("other-namespace", "elsewhere", "{}"), `is in namespace "default"`},
		{"bad-version", `{"key": "bad-version", "kind": "helm", "args": {"chart": "cm", "version": "9.9.9"}}`, `version "9.9.9"`},
	}
	for _, c := range cases {
		e.put(c.id, c.body)
	}
	e.put("good", entry("good", "cm", "{}"))
	for _, c := range cases {
		st := e.waitState(c.id, "error reported", hasError)
		if !strings.Contains(st.Release.Error, c.says) {
			t.Errorf("%s: error %q does not say %q", c.id, st.Release.Error, c.says)
		}
	}
	e.waitState("good", "installed beside the bad ones", deployedAt(1))
	if _, err := e.cs.RbacV1().ClusterRoles().Get(context.Background(), "sdp-cluster-scoped", metav1.GetOptions{}); err == nil {
		t.Error("the cluster-scoped object was created")
	}
	if _, err := e.cs.CoreV1().ConfigMaps("default").Get(context.Background(), "sdp-other-namespace", metav1.GetOptions{}); err == nil {
		t.Error("the object for another namespace was created")
	}

	// The repository goes away: a clear error, then recovery when it is back.
	e.repo.Down.Store(true)
	e.put("repo-away", entry("repo-away", "not-cached-yet", "{}"))
	e.waitState("repo-away", "unreachable reported", func(st configdb.DeploymentState, _ bool) bool {
		return st.Release != nil && strings.Contains(st.Release.Error, "unreachable") && strings.Contains(st.Release.Error, "503")
	})
	e.repo.Down.Store(false)
	e.repo.Add(testrepo.New("not-cached-yet", "0.1.0", nil, map[string]string{
		"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	}))
	e.waitState("repo-away", "installed once the repo is back", deployedAt(1))
}

func TestUnownedReleasesAndEtcdAway(t *testing.T) {
	e := newEnv(t)
	// Releases installed by someone else (plain Helm, no ownership label),
	// one with the release name of an entry and one with another name.
	for _, name := range []string{"sdp-foreign", "not-ours"} {
		e.helmInstallForeign(name)
	}
	e.start()
	// The entry asks for other values than the release holds: adopted,
	// then upgraded once; deleting the entry then uninstalls it.
	e.put("foreign", entry("foreign", "cm", `{"replicas": 5}`))
	e.waitState("foreign", "adopted and upgraded", deployedAt(2))
	if cm, err := e.configMap("sdp-foreign"); err != nil || cm.Data["replicas"] != "5" {
		t.Errorf("adopted release's object not upgraded: %v %v", cm, err)
	}
	e.del("foreign")
	e.waitState("foreign", "state gone", func(_ configdb.DeploymentState, found bool) bool { return !found })
	eventually.Eventually(t, 30*time.Second, func() error {
		if n := e.revisions("sdp-foreign"); n != 0 {
			return fmt.Errorf("adopted release: %d revisions after its entry went, want 0", n)
		}
		return nil
	})
	if n := e.revisions("not-ours"); n != 1 {
		t.Errorf("unowned release not-ours: %d revisions, want it untouched (1)", n)
	}

	// The config DB goes away for a while; changes made when it is back are
	// applied, and nothing crashes.
	e.put("survivor", entry("survivor", "cm", "{}"))
	e.waitState("survivor", "installed", deployedAt(1))
	e.etcd.Stop()
	time.Sleep(3 * time.Second)
	e.etcd.Restart()
	e.put("survivor", entry("survivor", "cm", `{"replicas": 7}`))
	e.put("newcomer", entry("newcomer", "cm", "{}"))
	e.waitState("survivor", "upgraded after etcd came back", deployedAt(2))
	e.waitState("newcomer", "installed after etcd came back", deployedAt(1))
}

// helmInstallForeign installs the cm chart with the Helm SDK directly, as
// another tool would, without the release-manager's labels.
func (e *testEnv) helmInstallForeign(name string) {
	e.t.Helper()
	runner, err := helmexec.New(e.cfg, e.ns, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := runner.RefreshCapabilities(); err != nil {
		e.t.Fatal(err)
	}
	if _, err := runner.Install(context.Background(), helmexec.Spec{Name: name, Chart: cmChart, Timeout: time.Minute}); err != nil {
		e.t.Fatal(err)
	}
}

// The API server stops answering for a while (SIGSTOP, as a hung or
// partitioned server looks from the client); entries written meanwhile are
// deployed once it answers again, and nothing crashes.
func TestAPIServerAway(t *testing.T) {
	e := newEnv(t)
	own, cfg, cs := clustertest.OwnCluster(t, t.Context(), e.ns)
	e.cfg, e.cs = cfg, cs
	e.start()
	e.put("before", entry("before", "cm", "{}"))
	e.waitState("before", "installed", deployedAt(1))
	resume := cptest.PauseAPIServer(t, own)
	e.put("during", entry("during", "cm", "{}"))
	e.put("before", entry("before", "cm", `{"replicas": 2}`))
	time.Sleep(10 * time.Second)
	resume()
	e.waitState("during", "installed after the API server came back", deployedAt(1))
	e.waitState("before", "upgraded after the API server came back", deployedAt(2))
}

// Leadership lost and won again in the same process: the second term works
// (it must not reuse the first term's stopped work queue).
func TestSecondTermOfLeadership(t *testing.T) {
	e := newEnv(t)
	rt := etcdtest.Runtime(t, "release-manager", e.env, e.newStore())
	process := rt.Context()
	lead, err := New(rt, e.cfg, Options{CacheDir: t.TempDir(), Resync: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for term, id := range []string{"first-term", "second-term"} {
		stop := servicetest.RunLead(t, process, lead)
		e.put(id, entry(id, "cm", "{}"))
		e.waitState(id, fmt.Sprintf("installed in term %d", term+1), deployedAt(1))
		stop()
	}
}
