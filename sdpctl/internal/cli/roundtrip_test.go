package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	sdpctl "github.com/ska-telescope/sdp-helmdeploy/sdpctl/internal/cli"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/logtest"
)

// decoders read each output format back into JSON, the form the contract
// decodes; the table format is read separately.
var decoders = map[string]func(t *testing.T, out string) []byte{
	"json": func(t *testing.T, out string) []byte { return []byte(out) },
	"yaml": func(t *testing.T, out string) []byte {
		t.Helper()
		js, err := yaml.YAMLToJSON([]byte(out))
		if err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, out)
		}
		return js
	},
}

// sameJSON compares two JSON documents by meaning.
func sameJSON(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	return reflect.DeepEqual(g, w)
}

// TestRoundTrip drives one deployment per output format through its life:
// create with values and --set, get, list, state (written as the services
// write it), delete, and create -f from what get printed.
func TestRoundTrip(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	valuesFile := filepath.Join(dir, "values.yaml")
	// A dotted key in a file means nested values, as in an entry.
	if err := os.WriteFile(valuesFile, []byte("receiver:\n  replicas: 1\n  port: 9000\nworker.threads: 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantValues := `{"receiver": {"replicas": 3, "port": 9000}, "worker": {"threads": 4}, "image": {"tag": "v1"}}`
	pods := map[string]configdb.PodStatus{"p-0": configdb.PodRunning, "p-1": configdb.PodPending}
	oom := int32(137)
	reasons := map[string]configdb.PodReason{"p-1": {Reason: "CrashLoopBackOff", Container: "worker", ExitCode: &oom, ExitReason: "OOMKilled",
		Message: "back-off 40s restarting failed\tcontainer=worker"}}

	for _, format := range []string{"table", "json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			id := "rt-" + format
			out := c.mustRun("create", id, "--chart", "demo", "--version", "0.1.0",
				"--values", valuesFile, "--set", "receiver.replicas=3", "--set", "image.tag=v1")
			if out != "deployment "+id+" created\n" {
				t.Errorf("create printed %q", out)
			}

			// get: what was stored is what the command line said.
			getOut := c.mustRun("get", id, "-o", format)
			if format == "table" {
				rows := parseTables(t, getOut)[0]
				want := map[string]string{"ID": id, "KIND": "helm", "CHART": "demo@0.1.0", "RELEASE STATUS": "-", "PODS": "-"}
				if len(rows) != 1 || !reflect.DeepEqual(rows[0], want) {
					t.Errorf("get table rows %v, want [%v]", rows, want)
				}
			} else {
				d, err := configdb.DecodeDeploymentDocument(decoders[format](t, getOut))
				if err != nil {
					t.Fatalf("get -o %s does not decode as an entry: %v\n%s", format, err, getOut)
				}
				if d.ID != id || d.Kind != configdb.KindHelm || d.Chart != "demo" || d.Version != "0.1.0" {
					t.Errorf("get: %+v", d)
				}
				values, _ := json.Marshal(d.Values)
				if !sameJSON(t, values, wantValues) {
					t.Errorf("values %s, want %s", values, wantValues)
				}
			}

			// state before any service wrote one: empty.
			stOut := c.mustRun("state", id, "-o", format)
			if format != "table" && !sameJSON(t, decoders[format](t, stOut), `{}`) {
				t.Errorf("state before the services wrote: %q", stOut)
			}

			// The services report, each its own part.
			ctx := ctxFor(t)
			if _, err := c.store.UpdateRelease(ctx, id, func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus {
				return configdb.ReleaseStatus{Name: id, Status: configdb.ReleaseDeployed, Revision: 2, Chart: "demo", Version: "0.1.0", Time: "2026-01-02T03:04:05Z"}
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.store.UpdatePodReport(ctx, id, func(configdb.PodReport) configdb.PodReport {
				return configdb.PodReport{Pods: pods, Reasons: reasons}
			}); err != nil {
				t.Fatal(err)
			}

			stOut = c.mustRun("state", id, "-o", format)
			if format == "table" {
				tables := parseTables(t, stOut)
				wantRelease := []map[string]string{{"RELEASE": id, "STATUS": "deployed", "REVISION": "2", "CHART": "demo",
					"VERSION": "0.1.0", "UPDATED": "2026-01-02T03:04:05Z", "ERROR": "-"}}
				wantPods := []map[string]string{{"POD": "p-0", "STATUS": "RUNNING", "REASON": "-", "MESSAGE": "-"},
					{"POD": "p-1", "STATUS": "PENDING", "REASON": "CrashLoopBackOff (container worker, exit 137 OOMKilled)",
						"MESSAGE": "back-off 40s restarting failed container=worker"}}
				if len(tables) != 2 || !reflect.DeepEqual(tables[0], wantRelease) || !reflect.DeepEqual(tables[1], wantPods) {
					t.Errorf("state tables %v, want %v and %v\n%s", tables, wantRelease, wantPods, stOut)
				}
			} else {
				st, err := configdb.DecodeState(decoders[format](t, stOut))
				if err != nil {
					t.Fatalf("state -o %s does not decode: %v\n%s", format, err, stOut)
				}
				if !reflect.DeepEqual(st.Pods, pods) || st.Release == nil || st.Release.Status != configdb.ReleaseDeployed || st.Release.Revision != 2 ||
					!(configdb.PodReport{Pods: pods, Reasons: reasons}).Equal(configdb.PodReport{Pods: st.Pods, Reasons: st.Reasons}) {
					t.Errorf("state %+v (release %+v)", st, st.Release)
				}
			}

			// list shows it with its release status and pods.
			listOut := c.mustRun("list", "-o", format)
			if format == "table" {
				var found map[string]string
				for _, r := range parseTables(t, listOut)[0] {
					if r["ID"] == id {
						found = r
					}
				}
				want := map[string]string{"ID": id, "KIND": "helm", "CHART": "demo@0.1.0", "RELEASE STATUS": "deployed", "PODS": "1 PENDING, 1 RUNNING"}
				if !reflect.DeepEqual(found, want) {
					t.Errorf("list row %v, want %v\n%s", found, want, listOut)
				}
			} else {
				var items []struct {
					Deployment json.RawMessage           `json:"deployment"`
					State      *configdb.DeploymentState `json:"state"`
				}
				if err := json.Unmarshal(decoders[format](t, listOut), &items); err != nil {
					t.Fatalf("list -o %s: %v\n%s", format, err, listOut)
				}
				var hit bool
				for _, it := range items {
					d, err := configdb.DecodeDeploymentDocument(it.Deployment)
					if err != nil {
						t.Errorf("list item does not decode: %v", err)
						continue
					}
					if d.ID == id {
						hit = true
						if d.Chart != "demo" || it.State == nil || !reflect.DeepEqual(it.State.Pods, pods) {
							t.Errorf("list item %+v state %+v", d, it.State)
						}
					}
				}
				if !hit {
					t.Errorf("list -o %s lacks %s:\n%s", format, id, listOut)
				}
			}

			// delete removes the entry and its state.
			if out := c.mustRun("delete", id); out != "deployment "+id+" deleted\n" {
				t.Errorf("delete printed %q", out)
			}
			if r := c.run("get", id); r.code != sdpctl.ExitFailure || !strings.Contains(r.stderr, "not found") {
				t.Errorf("get after delete: %+v", r)
			}
			if _, found, err := c.store.GetState(ctx, id); err != nil || found {
				t.Errorf("state entry after delete: found %v, %v", found, err)
			}

			// What get printed is a whole entry that create -f takes back.
			if format != "table" {
				file := filepath.Join(dir, id+"."+format)
				if err := os.WriteFile(file, []byte(getOut), 0o600); err != nil {
					t.Fatal(err)
				}
				c.mustRun("create", "-f", file)
				if again := c.mustRun("get", id, "-o", format); again != getOut {
					t.Errorf("entry after create -f differs:\n%s\nwant\n%s", again, getOut)
				}
				c.mustRun("delete", id)
			}
		})
	}
}

// TestCreateFromStdin reads a whole entry, in JSON with an old id field, from
// standard input.
func TestCreateFromStdin(t *testing.T) {
	c := newCLI(t)
	c.stdin = `{"dpl_id": "from-stdin", "kind": "helm", "args": {"chart": "c", "values": {"a.b": 1}}}`
	c.mustRun("create", "-f", "-")
	d, found, err := c.store.GetDeployment(ctxFor(t), "from-stdin")
	if err != nil || !found {
		t.Fatalf("entry: found %v, %v", found, err)
	}
	values, _ := json.Marshal(d.Values)
	if d.Chart != "c" || !sameJSON(t, values, `{"a": {"b": 1}}`) {
		t.Errorf("entry %+v values %s", d, values)
	}
}

// TestEnvironmentAndFlags: the SDP_* settings are read, and flags win over
// them.
func TestEnvironmentAndFlags(t *testing.T) {
	c := newCLI(t)
	c.env["SDP_CONFIG_HOST"] = "127.0.0.1"
	c.env["SDP_CONFIG_PORT"] = strings.TrimPrefix(c.srv.Endpoint, "http://127.0.0.1:")
	c.env["SDP_CONFIG_PREFIX"] = c.prefix
	if r := c.runCtx(ctxFor(t), "create", "by-env", "--chart", "c"); r.code != sdpctl.ExitOK {
		t.Fatalf("create with the environment only: %+v", r)
	}
	if _, found, err := c.store.GetDeployment(ctxFor(t), "by-env"); err != nil || !found {
		t.Fatalf("entry written under SDP_CONFIG_PREFIX: found %v, %v", found, err)
	}
	// --prefix overrides SDP_CONFIG_PREFIX: another prefix has no such entry.
	r := c.runCtx(ctxFor(t), "--prefix", "/elsewhere", "get", "by-env")
	want := "sdpctl: get deployment by-env: not found under prefix /elsewhere; see 'sdpctl list' for the deployments there are\n"
	if r.code != sdpctl.ExitFailure || r.stderr != want {
		t.Errorf("get with --prefix over the environment: exit %d stderr %q, want %q", r.code, r.stderr, want)
	}
	// SDP_HELM_PREFIX makes the release name longer: an id that fits alone
	// does not fit with it.
	c.env["SDP_HELM_PREFIX"] = strings.Repeat("p", 40)
	r = c.runCtx(ctxFor(t), "create", strings.Repeat("i", 13), "--chart", "c")
	if r.code != sdpctl.ExitFailure || !strings.Contains(r.stderr, "Helm allows at most 53") {
		t.Errorf("create with a long SDP_HELM_PREFIX: %+v", r)
	}
}

// TestStateWatch: --watch prints the entry, then each change, and stops
// when its context ends.
func TestStateWatch(t *testing.T) {
	c := newCLI(t)
	c.mustRun("create", "watched", "--chart", "c")
	for _, format := range []string{"json", "yaml", "table"} {
		t.Run(format, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out logtest.Buffer
			done := make(chan int, 1)
			go func() {
				done <- sdpctl.Run(ctx, append(c.connArgs(), "state", "watched", "--watch", "-o", format),
					strings.NewReader(""), &out, &out, c.lookup)
			}()
			waitFor := func(what string, cond func(string) bool) {
				t.Helper()
				eventually.Eventually(t, 20*time.Second, func() error {
					if s := out.String(); !cond(s) {
						return fmt.Errorf("waiting for %s; output so far:\n%s", what, s)
					}
					return nil
				})
			}
			waitFor("the first state", func(s string) bool { return s != "" })
			status := configdb.PodStatus("RUNNING")
			if _, err := c.store.UpdatePods(ctxFor(t), "watched", func(map[string]configdb.PodStatus) map[string]configdb.PodStatus {
				return map[string]configdb.PodStatus{"pod-" + format: status}
			}); err != nil {
				t.Fatal(err)
			}
			waitFor("the change", func(s string) bool { return strings.Contains(s, "pod-"+format) })
			cancel()
			select {
			case code := <-done:
				if code != sdpctl.ExitOK {
					t.Errorf("watch ended with exit %d:\n%s", code, out.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatal("watch did not stop when its context ended")
			}
			// Two documents: the state before (the pods of the previous
			// subtest, or none) and after the change.
			got := out.String()
			var docs []configdb.DeploymentState
			switch format {
			case "json":
				dec := json.NewDecoder(strings.NewReader(got))
				for dec.More() {
					var st configdb.DeploymentState
					if err := dec.Decode(&st); err != nil {
						t.Fatalf("watch output is not a JSON stream: %v\n%s", err, got)
					}
					docs = append(docs, st)
				}
			case "yaml":
				for _, doc := range strings.Split(got, "---\n") {
					st, err := configdb.DecodeState(decoders["yaml"](t, doc))
					if err != nil {
						t.Fatalf("watch document does not decode: %v\n%s", err, doc)
					}
					docs = append(docs, st)
				}
			case "table":
				tables := parseTables(t, got)
				if len(tables)%2 != 0 {
					t.Fatalf("watch tables come in pairs (release, pods): %d\n%s", len(tables), got)
				}
				for i := 0; i < len(tables); i += 2 {
					st := configdb.DeploymentState{Pods: map[string]configdb.PodStatus{}}
					for _, r := range tables[i+1] {
						st.Pods[r["POD"]] = configdb.PodStatus(r["STATUS"])
					}
					docs = append(docs, st)
				}
			}
			if len(docs) != 2 {
				t.Fatalf("got %d states, want 2:\n%s", len(docs), got)
			}
			if _, ok := docs[0].Pods["pod-"+format]; ok {
				t.Errorf("the first state already has the change:\n%s", got)
			}
			if docs[1].Pods["pod-"+format] != status {
				t.Errorf("the second state lacks the change: %+v\n%s", docs[1], got)
			}
		})
	}
}

// TestResources lists the /resource/ entries as the resource-monitor writes
// them, in each format.
func TestResources(t *testing.T) {
	c := newCLI(t)
	vlan := 12
	nad := configdb.NetworkResource{Namespace: "sdp", Name: "rx", CNIType: "macvlan", Master: "eth0", VLAN: &vlan,
		Subnet: "10.1.0.0/24", RangeStart: "10.1.0.10", RangeEnd: "10.1.0.200", Gateway: "10.1.0.1", Supernet: "net1"}
	super := configdb.SupernetResource{Name: "net1", CIDR: "10.1.0.0/24", Members: []string{"sdp/rx"}}
	for _, r := range []configdb.Resource{nad, super} {
		if _, err := c.store.PutResource(ctxFor(t), r); err != nil {
			t.Fatal(err)
		}
	}
	for _, format := range []string{"table", "json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			out := c.mustRun("resources", "-o", format)
			if format == "table" {
				rows := parseTables(t, out)[0]
				want := []map[string]string{
					{"ENTRY": nad.ID(), "CIDR": "10.1.0.0/24", "RANGE": "10.1.0.10-10.1.0.200", "GATEWAY": "10.1.0.1", "CNI": "macvlan", "VLAN": "12", "SUPERNET/MEMBERS": "net1"},
					{"ENTRY": super.ID(), "CIDR": "10.1.0.0/24", "RANGE": "-", "GATEWAY": "-", "CNI": "-", "VLAN": "-", "SUPERNET/MEMBERS": "sdp/rx"},
				}
				if !reflect.DeepEqual(rows, want) {
					t.Errorf("rows %v\nwant %v\n%s", rows, want, out)
				}
				return
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(decoders[format](t, out), &got); err != nil {
				t.Fatalf("resources -o %s: %v\n%s", format, err, out)
			}
			if len(got) != 2 {
				t.Fatalf("got %d entries, want 2:\n%s", len(got), out)
			}
			for _, want := range []configdb.Resource{nad, super} {
				r, err := configdb.DecodeResource(want.ID(), got[want.ID()])
				if err != nil || !reflect.DeepEqual(r, want) {
					t.Errorf("entry %s: %+v, %v; want %+v", want.ID(), r, err, want)
				}
			}
		})
	}
}

// TestListWarnsOfBadEntries: an entry no client could read is named on
// stderr, and the others are still listed.
func TestListWarnsOfBadEntries(t *testing.T) {
	c := newCLI(t)
	c.mustRun("create", "good", "--chart", "c")
	if _, err := c.store.Client().Put(ctxFor(t), c.store.Layout().DeploymentKey("broken"), "{"); err != nil {
		t.Fatal(err)
	}
	r := c.run("list")
	rows := parseTables(t, r.stdout)[0]
	if r.code != sdpctl.ExitOK || len(rows) != 1 || rows[0]["ID"] != "good" {
		t.Errorf("list: exit %d rows %v", r.code, rows)
	}
	if !strings.HasPrefix(r.stderr, "warning: skipped bad deployment entry /deploy/broken: not valid JSON") {
		t.Errorf("stderr %q", r.stderr)
	}
	if r := c.run("get", "broken"); r.code != sdpctl.ExitFailure || !strings.Contains(r.stderr, "fix the entry or delete it (sdpctl delete broken)") {
		t.Errorf("get of a broken entry: %+v", r)
	}
}
