package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	sdpctl "github.com/ska-telescope/sdp-helmdeploy/sdpctl/internal/cli"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// explainDoc is explain's -o json, read back.
type explainDoc struct {
	ID, Release, Namespace, Verdict string
	Deployment                      struct {
		Found                       bool
		Error, Kind, Chart, Version string
		Values                      map[string]any
	}
	State struct {
		Found   bool
		Error   string
		Release *configdb.ReleaseStatus
		Pods    []struct {
			Name   string
			Status configdb.PodStatus
			Reason *configdb.PodReason
		}
	}
	Kubernetes struct {
		Server, Note string
		History      []struct {
			Revision                                     int
			Status, Chart, Version, Updated, Description string
		}
		HistoryError string `json:"history_error"`
		Events       []struct {
			Type, Reason, Object, Message, Time string
			Count                               int32
		}
		EventsError string `json:"events_error"`
	}
}

func decodeExplain(t *testing.T, out string) explainDoc {
	t.Helper()
	var doc explainDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("explain -o json does not decode: %v\n%s", err, out)
	}
	return doc
}

// kvLine is a "key: value" line of explain's table output.
func kvLine(key, value string) string { return fmt.Sprintf("%-14s%s\n", key, value) }

// tableIn returns the rows of the table of out whose header starts with
// header, failing the test when there is none.
func tableIn(t *testing.T, out, header string) []map[string]string {
	t.Helper()
	for _, block := range strings.Split(out, "\n\n") {
		if strings.HasPrefix(block, header) {
			return parseTables(t, block)[0]
		}
	}
	t.Fatalf("no table %q in\n%s", header, out)
	return nil
}

// TestExplainConfigDB: without a kubeconfig, explain shows what the config
// DB holds, with the verdict it leads to, and says in one line that
// Kubernetes was not asked; that is a success.
func TestExplainConfigDB(t *testing.T) {
	c := newCLI(t)
	c.env = map[string]string{"SDP_HELM_PREFIX": "sdp", "SDP_HELM_NAMESPACE": "proc"}
	c.mustRun("create", "recv", "--chart", "vis-receive", "--version", "1.2.0", "--set", "receiver.replicas=2", "--set", "image.tag=v1")
	ctx := ctxFor(t)
	release := configdb.ReleaseStatus{Name: "sdp-recv", Status: configdb.ReleaseDeployed, Revision: 2, Chart: "vis-receive", Version: "1.2.0",
		Time: "2026-12-05T10:02:00Z", Readiness: configdb.ReadinessNotReady, ReadinessReason: "StatefulSet sdp-recv: 0 of 1 replicas ready",
		Drift: []configdb.DriftRecord{{Kind: "Service", Name: "sdp-recv", Change: configdb.DriftChanged, Fields: []string{"spec.ports"},
			Seen: "2026-12-05T10:05:00Z", Corrected: "2026-12-05T10:05:01Z"}}}
	if _, err := c.store.UpdateRelease(ctx, "recv", func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus { return release }); err != nil {
		t.Fatal(err)
	}
	reason := configdb.PodReason{Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}
	if _, err := c.store.UpdatePodReport(ctx, "recv", func(configdb.PodReport) configdb.PodReport {
		return configdb.PodReport{
			Pods:    map[string]configdb.PodStatus{"sdp-recv-0": configdb.PodPending, "sdp-recv-proxy-1": configdb.PodRunning},
			Reasons: map[string]configdb.PodReason{"sdp-recv-0": reason},
		}
	}); err != nil {
		t.Fatal(err)
	}
	const wantVerdict = "not running: pod sdp-recv-0 PENDING (Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.)"
	const wantNote = "not asked: no kubeconfig (--kubeconfig or KUBECONFIG); showing what the config DB holds"

	t.Run("table", func(t *testing.T) {
		r := c.run("explain", "recv")
		if r.code != sdpctl.ExitOK || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		if first := kvLine("verdict:", wantVerdict); !strings.HasPrefix(r.stdout, first) {
			t.Errorf("output does not start with\n%s\n%s", first, r.stdout)
		}
		for _, want := range []string{
			kvLine("deployment:", "recv"),
			kvLine("kind:", "helm"),
			kvLine("chart:", "vis-receive 1.2.0"),
			kvLine("values:", "image.tag=v1, receiver.replicas=2"),
			kvLine("release:", "sdp-recv (namespace proc)"),
			kvLine("status:", "deployed"),
			kvLine("revision:", "2"),
			kvLine("error:", "-"),
			kvLine("readiness:", "not-ready: StatefulSet sdp-recv: 0 of 1 replicas ready"),
			kvLine("updated:", "2026-12-05T10:02:00Z"),
			kvLine("pods:", "1 PENDING, 1 RUNNING"),
			kvLine("kubernetes:", wantNote),
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks the line %q:\n%s", want, r.stdout)
			}
		}
		wantPods := []map[string]string{
			{"POD": "sdp-recv-0", "STATUS": "PENDING", "REASON": "Unschedulable", "MESSAGE": "0/1 nodes are available: 1 Insufficient cpu."},
			{"POD": "sdp-recv-proxy-1", "STATUS": "RUNNING", "REASON": "-", "MESSAGE": "-"},
		}
		if got := tableIn(t, r.stdout, "POD "); !reflect.DeepEqual(got, wantPods) {
			t.Errorf("pods %v, want %v", got, wantPods)
		}
		wantDrift := []map[string]string{{"DRIFTED OBJECT": "Service/sdp-recv", "CHANGE": "changed", "FIELDS": "spec.ports",
			"SEEN": "2026-12-05T10:05:00Z", "CORRECTED": "2026-12-05T10:05:01Z"}}
		if got := tableIn(t, r.stdout, "DRIFTED OBJECT "); !reflect.DeepEqual(got, wantDrift) {
			t.Errorf("drift %v, want %v", got, wantDrift)
		}
		if strings.Contains(r.stdout, "HELM REVISION") || strings.Contains(r.stdout, "LAST SEEN") {
			t.Errorf("Kubernetes tables without a kubeconfig:\n%s", r.stdout)
		}
	})

	t.Run("json", func(t *testing.T) {
		doc := decodeExplain(t, c.mustRun("explain", "recv", "-o", "json"))
		if doc.ID != "recv" || doc.Release != "sdp-recv" || doc.Namespace != "proc" || doc.Verdict != wantVerdict {
			t.Errorf("head %q %q %q %q", doc.ID, doc.Release, doc.Namespace, doc.Verdict)
		}
		d := doc.Deployment
		if !d.Found || d.Kind != "helm" || d.Chart != "vis-receive" || d.Version != "1.2.0" ||
			!reflect.DeepEqual(d.Values, map[string]any{"receiver": map[string]any{"replicas": 2.0}, "image": map[string]any{"tag": "v1"}}) {
			t.Errorf("deployment %+v", d)
		}
		st := doc.State
		if !st.Found || st.Release == nil || !st.Release.Equal(release) {
			t.Errorf("release part %+v, want %+v", st.Release, release)
		}
		if len(st.Pods) != 2 || st.Pods[0].Name != "sdp-recv-0" || st.Pods[0].Reason == nil || !st.Pods[0].Reason.Equal(reason) ||
			st.Pods[1].Status != configdb.PodRunning || st.Pods[1].Reason != nil {
			t.Errorf("pods %+v", st.Pods)
		}
		k := doc.Kubernetes
		if k.Note != wantNote || k.Server != "" || k.History != nil || k.Events != nil {
			t.Errorf("kubernetes %+v", k)
		}
	})

	t.Run("no entry at all", func(t *testing.T) {
		r := c.run("explain", "absent")
		if r.code != sdpctl.ExitOK || !strings.HasPrefix(r.stdout, kvLine("verdict:", "no deployment entry")) ||
			!strings.Contains(r.stdout, kvLine("deployment:", "absent: no deployment entry")) || !strings.Contains(r.stdout, kvLine("state:", "no state entry")) {
			t.Errorf("exit %d, stderr %q, stdout\n%s", r.code, r.stderr, r.stdout)
		}
	})

	t.Run("no release yet", func(t *testing.T) {
		c.mustRun("create", "fresh", "--chart", "c")
		doc := decodeExplain(t, c.mustRun("explain", "fresh", "-o", "json"))
		if doc.Verdict != "no release yet" || doc.State.Found || !doc.Deployment.Found {
			t.Errorf("%+v", doc)
		}
	})
}

// TestExplainUnreadable: entries that do not decode are shown as such,
// with their errors, not failed on: they are what needs explaining.
func TestExplainUnreadable(t *testing.T) {
	c := newCLI(t)
	cl := c.srv.Client(t)
	ctx := ctxFor(t)
	l := c.store.Layout()
	if _, err := cl.Put(ctx, l.DeploymentKey("broken"), `{"key": "broken", "kind": "helm", "args": {}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(ctx, l.StateKey("broken"), `{"pods": ["not", "a", "map"], "release": {"status": "deployed"}}`); err != nil {
		t.Fatal(err)
	}
	r := c.run("explain", "broken")
	if r.code != sdpctl.ExitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	const entryErr = `bad deployment entry /deploy/broken: "args.chart" is missing or empty`
	const stateErr = `state entry cannot be read: "pods" is a list, not an object`
	for _, want := range []string{
		kvLine("verdict:", "not deployed: "+entryErr),
		kvLine("deployment:", "broken: does not decode: "+entryErr),
		kvLine("state:", stateErr),
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks the line %q:\n%s", want, r.stdout)
		}
	}
	// A good entry beside a bad state entry: the verdict is about the
	// state entry.
	c.mustRun("create", "good", "--chart", "c")
	if _, err := cl.Put(ctx, l.StateKey("good"), `[1, 2]`); err != nil {
		t.Fatal(err)
	}
	doc := decodeExplain(t, c.mustRun("explain", "good", "-o", "json"))
	const badState = "state entry cannot be read: it is a list, not a JSON object"
	if doc.Verdict != "unknown: "+badState || doc.State.Error != badState || !doc.State.Found || doc.State.Release != nil {
		t.Errorf("verdict %q, state %+v", doc.Verdict, doc.State)
	}
}

// TestExplainKubeconfigUnusable: a kubeconfig that cannot be read, or names
// an API server that is not there, is one line of the output and not a
// failure, within --timeout.
func TestExplainKubeconfigUnusable(t *testing.T) {
	c := newCLI(t)
	c.mustRun("create", "k", "--chart", "c")
	dir := t.TempDir()
	port := closedPort(t)
	away := filepath.Join(dir, "away.yaml")
	if err := os.WriteFile(away, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		note string // a prefix of the kubernetes line
	}{
		{"missing file from the flag", nil, []string{"--kubeconfig", missing},
			"not asked: kubeconfig (--kubeconfig " + missing + "): stat " + missing + ": no such file or directory"},
		{"KUBECONFIG naming only missing files", map[string]string{"KUBECONFIG": missing}, nil,
			"not asked: kubeconfig (KUBECONFIG=" + missing + ") names no cluster"},
		{"API server away, from KUBECONFIG", map[string]string{"KUBECONFIG": away}, nil,
			"API server https://127.0.0.1:" + strconv.Itoa(port) + " cannot be reached within 2s: dial tcp 127.0.0.1:"},
		{"the flag wins over KUBECONFIG", map[string]string{"KUBECONFIG": missing}, []string{"--kubeconfig", away},
			"API server https://127.0.0.1:" + strconv.Itoa(port) + " cannot be reached within 2s: dial tcp 127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.env = tc.env
			start := time.Now()
			r := c.run(append([]string{"--timeout", "2s", "explain", "k", "-o", "json"}, tc.args...)...)
			if elapsed := time.Since(start); elapsed > 15*time.Second {
				t.Errorf("took %v with --timeout 2s", elapsed)
			}
			if r.code != sdpctl.ExitOK || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			doc := decodeExplain(t, r.stdout)
			if !strings.HasPrefix(doc.Kubernetes.Note, tc.note) || !strings.HasSuffix(doc.Kubernetes.Note, "; showing what the config DB holds") ||
				doc.Kubernetes.History != nil || doc.Kubernetes.Events != nil {
				t.Errorf("kubernetes %+v, want a note starting %q", doc.Kubernetes, tc.note)
			}
			if doc.Verdict != "no release yet" || doc.Deployment.Chart != "c" {
				t.Errorf("the config DB's part is not shown: %+v", doc)
			}
			// The table says it in one line.
			table := c.run(append([]string{"--timeout", "2s", "explain", "k"}, tc.args...)...)
			want := kvLine("verdict:", "no release yet") + "\n" +
				kvLine("deployment:", "k") + kvLine("kind:", "helm") + kvLine("chart:", "c") + kvLine("values:", "-") + "\n" +
				kvLine("state:", "no state entry") + "\n" +
				kvLine("kubernetes:", doc.Kubernetes.Note)
			if table.stdout != want {
				t.Errorf("table output (exit %d, stderr %q):\n%s", table.code, table.stderr, table.stdout)
			}
		})
	}
}
