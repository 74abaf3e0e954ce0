package cli_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	sdpctl "github.com/ska-telescope/sdp-helmdeploy/sdpctl/internal/cli"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// The control plane is started only by the tests that ask for it (cptest.Get).
func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

// manifest is a release's rendered manifest as Helm stores it.
func manifest(objects ...string) string {
	var b strings.Builder
	for _, o := range objects {
		kind, name, _ := strings.Cut(o, "/")
		fmt.Fprintf(&b, "---\n# Source: vis-receive/templates/%s.yaml\napiVersion: v1\nkind: %s\nmetadata:\n  name: %s\n", strings.ToLower(kind), kind, name)
	}
	return b.String()
}

// TestExplainKubernetes: against a real API server, explain reads the
// release's history from Helm's storage (Secrets in SDP_HELM_NAMESPACE)
// and the events about the release's objects, and only those.
func TestExplainKubernetes(t *testing.T) {
	cp := cptest.Get(t)
	cs := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	const ns = "sdpctl-explain"
	cptest.Namespace(t, cs, ns)
	ctx := ctxFor(t)
	now := time.Now().UTC().Truncate(time.Second)

	// Two revisions as the release-manager's Helm leaves them: the first
	// superseded, the second failed with Helm's error as its description.
	helmStore := storage.Init(driver.NewSecrets(cs.CoreV1().Secrets(ns)))
	failure := `Upgrade "sdp-recv" failed: cannot patch "sdp-recv" with kind Deployment: spec.replicas: Invalid value: -1`
	for _, r := range []*release.Release{
		{Name: "sdp-recv", Namespace: ns, Version: 1, Manifest: manifest("Deployment/sdp-recv", "ConfigMap/sdp-recv-config"),
			Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "vis-receive", Version: "1.1.0"}},
			Info: &release.Info{Status: release.StatusSuperseded, Description: "Install complete",
				LastDeployed: helmtime.Time{Time: now.Add(-2 * time.Hour)}}},
		{Name: "sdp-recv", Namespace: ns, Version: 2, Manifest: manifest("Deployment/sdp-recv", "Service/sdp-recv-svc"),
			Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "vis-receive", Version: "1.2.0"}},
			Info:  &release.Info{Status: release.StatusFailed, Description: failure, LastDeployed: helmtime.Time{Time: now.Add(-time.Hour)}},
			Hooks: []*release.Hook{{Name: "sdp-recv-setup", Kind: "Job"}}},
		// Another release in the namespace, whose records must not show.
		{Name: "sdp-recv-2", Namespace: ns, Version: 1, Manifest: manifest("Deployment/sdp-recv-2"),
			Chart: &chart.Chart{Metadata: &chart.Metadata{Name: "other", Version: "9.9.9"}},
			Info:  &release.Info{Status: release.StatusDeployed, Description: "Install complete", LastDeployed: helmtime.Time{Time: now}}},
	} {
		if err := helmStore.Create(r); err != nil {
			t.Fatal(err)
		}
	}

	// Events about objects of the latest revision, its hook, a pod the
	// config DB reports and a ReplicaSet of its Deployment; and about
	// objects that are not the release's.
	event := func(name, kind, object, reason, message string, ago time.Duration, count int32) {
		t.Helper()
		at := metav1.NewTime(now.Add(-ago))
		_, err := cs.CoreV1().Events(ns).Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Name: object, Namespace: ns},
			Type:           corev1.EventTypeWarning, Reason: reason, Message: message, Count: count,
			FirstTimestamp: at, LastTimestamp: at, Source: corev1.EventSource{Component: "sdpctl-test"},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	event("pod", "Pod", "sdp-recv-5d8f9-abcde", "FailedScheduling", "0/1 nodes are available: 1 Insufficient cpu.", 3*time.Minute, 4)
	event("svc", "Service", "sdp-recv-svc", "FailedToUpdateEndpoint", "no endpoints", 4*time.Minute, 1)
	event("hook", "Job", "sdp-recv-setup", "BackoffLimitExceeded", "Job has reached the specified backoff limit", 5*time.Minute, 1)
	event("rs", "ReplicaSet", "sdp-recv-5d8f9", "FailedCreate", `pods "sdp-recv-5d8f9-x" is forbidden: exceeded quota: compute`, 630*time.Second, 1)
	// Of the first revision only: the latest manifest is what counts.
	event("old-cm", "ConfigMap", "sdp-recv-config", "Old", "of revision 1", time.Minute, 1)
	event("other-release", "Deployment", "sdp-recv-2", "Other", "of another release", time.Minute, 1)
	event("other-rs", "ReplicaSet", "sdp-recv-2-77f8c", "Other", "of another release's ReplicaSet", time.Minute, 1)
	event("same-name-other-kind", "Pod", "sdp-recv", "Other", "a pod named like the Deployment", time.Minute, 1)
	// More events about the Deployment than explain shows, 30 to 6
	// minutes old: of the 29 about the release's objects the newest 20
	// are shown, so the 9 oldest of these are not.
	for i := range 25 {
		event("deploy-"+strconv.Itoa(i), "Deployment", "sdp-recv", "ScalingReplicaSet", "scaled "+strconv.Itoa(i), time.Duration(30-i)*time.Minute, 1)
	}
	var wantEvents []string // oldest first
	for i := 9; i < 25; i++ {
		if i == 20 {
			wantEvents = append(wantEvents, "ReplicaSet/sdp-recv-5d8f9 FailedCreate "+`pods "sdp-recv-5d8f9-x" is forbidden: exceeded quota: compute`)
		}
		wantEvents = append(wantEvents, "Deployment/sdp-recv ScalingReplicaSet scaled "+strconv.Itoa(i))
	}
	wantEvents = append(wantEvents,
		"Job/sdp-recv-setup BackoffLimitExceeded Job has reached the specified backoff limit",
		"Service/sdp-recv-svc FailedToUpdateEndpoint no endpoints",
		"Pod/sdp-recv-5d8f9-abcde FailedScheduling 0/1 nodes are available: 1 Insufficient cpu.")

	c := newCLI(t)
	c.mustRun("create", "recv", "--chart", "vis-receive", "--version", "1.2.0")
	if _, err := c.store.UpdateRelease(ctx, "recv", func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus {
		return configdb.ReleaseStatus{Name: "sdp-recv", Status: configdb.ReleaseFailed, Revision: 2, Chart: "vis-receive", Version: "1.2.0", Error: failure}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.store.UpdatePodReport(ctx, "recv", func(configdb.PodReport) configdb.PodReport {
		return configdb.PodReport{Pods: map[string]configdb.PodStatus{"sdp-recv-5d8f9-abcde": configdb.PodPending}}
	}); err != nil {
		t.Fatal(err)
	}
	c.env = map[string]string{"KUBECONFIG": cp.KubeconfigPath, "SDP_HELM_NAMESPACE": ns, "SDP_HELM_PREFIX": "sdp"}

	t.Run("json", func(t *testing.T) {
		doc := decodeExplain(t, c.mustRun("explain", "recv", "-o", "json"))
		k := doc.Kubernetes
		if k.Server != cp.APIServerURL || k.Note != "" || k.HistoryError != "" || k.EventsError != "" {
			t.Fatalf("kubernetes %+v", k)
		}
		if len(k.History) != 2 {
			t.Fatalf("history %+v, want revisions 1 and 2 of sdp-recv", k.History)
		}
		h1, h2 := k.History[0], k.History[1]
		if h1.Revision != 1 || h1.Status != "superseded" || h1.Chart != "vis-receive" || h1.Version != "1.1.0" || h1.Description != "Install complete" ||
			h1.Updated != now.Add(-2*time.Hour).Format(time.RFC3339) {
			t.Errorf("revision 1: %+v", h1)
		}
		if h2.Revision != 2 || h2.Status != "failed" || h2.Version != "1.2.0" || h2.Description != failure {
			t.Errorf("revision 2: %+v", h2)
		}
		var got []string
		for _, e := range k.Events {
			got = append(got, e.Object+" "+e.Reason+" "+e.Message)
		}
		if strings.Join(got, "\n") != strings.Join(wantEvents, "\n") {
			t.Errorf("events, oldest first:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantEvents, "\n"))
		}
		for _, e := range k.Events {
			if e.Object == "Pod/sdp-recv-5d8f9-abcde" && (e.Count != 4 || e.Type != "Warning" || e.Time != now.Add(-3*time.Minute).Format(time.RFC3339)) {
				t.Errorf("event %+v", e)
			}
		}
		if doc.Verdict != "failed: "+failure {
			t.Errorf("verdict %q", doc.Verdict)
		}
	})

	t.Run("table, with --kubeconfig", func(t *testing.T) {
		c.env = map[string]string{"SDP_HELM_NAMESPACE": ns, "SDP_HELM_PREFIX": "sdp"}
		defer func() { c.env["KUBECONFIG"] = cp.KubeconfigPath }()
		out := c.mustRun("explain", "recv", "--kubeconfig", cp.KubeconfigPath)
		if !strings.Contains(out, kvLine("kubernetes:", cp.APIServerURL+", namespace "+ns)) {
			t.Errorf("no kubernetes line for %s:\n%s", cp.APIServerURL, out)
		}
		history := tableIn(t, out, "HELM REVISION ")
		if len(history) != 2 || history[0]["STATUS"] != "superseded" || history[0]["CHART"] != "vis-receive 1.1.0" ||
			history[1]["HELM REVISION"] != "2" || history[1]["STATUS"] != "failed" || history[1]["DESCRIPTION"] != failure {
			t.Errorf("history table %v", history)
		}
		events := tableIn(t, out, "LAST SEEN ")
		if len(events) != len(wantEvents) {
			t.Fatalf("%d events, want %d:\n%s", len(events), len(wantEvents), out)
		}
		pod := events[len(events)-1]
		if pod["OBJECT"] != "Pod/sdp-recv-5d8f9-abcde" || pod["REASON"] != "FailedScheduling" || pod["TYPE"] != "Warning" ||
			!strings.HasSuffix(pod["LAST SEEN"], " (x4)") {
			t.Errorf("pod event row %v", pod)
		}
	})

	t.Run("no release in the namespace", func(t *testing.T) {
		c.mustRun("create", "nohelm", "--chart", "c")
		doc := decodeExplain(t, c.mustRun("explain", "nohelm", "-o", "json"))
		if k := doc.Kubernetes; k.History == nil || len(k.History) != 0 || k.Events == nil || len(k.Events) != 0 || k.Note != "" {
			t.Errorf("kubernetes %+v, want an empty history and no events", k)
		}
		out := c.mustRun("explain", "nohelm")
		if !strings.Contains(out, kvLine("history:", "no Helm release sdp-nohelm in namespace "+ns)) {
			t.Errorf("no line saying there is no release:\n%s", out)
		}
	})

	// Last: it stops the shared API server for a while.
	t.Run("API server hung", func(t *testing.T) {
		resume := cptest.PauseAPIServer(t, cp)
		start := time.Now()
		r := c.run("--timeout", "2s", "explain", "recv", "-o", "json")
		elapsed := time.Since(start)
		resume()
		// Not a speed check: the history read and nothing else waits for
		// the server, so well under two timeouts more than the config DB's.
		if elapsed > 12*time.Second {
			t.Errorf("took %v with --timeout 2s", elapsed)
		}
		if r.code != sdpctl.ExitOK || r.stderr != "" {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		doc := decodeExplain(t, r.stdout)
		if k := doc.Kubernetes; !strings.HasPrefix(k.Note, "API server "+cp.APIServerURL+" cannot be reached within 2s: ") || k.History != nil || k.Events != nil {
			t.Errorf("kubernetes %+v", k)
		}
		if doc.Verdict != "failed: "+failure || doc.State.Release == nil {
			t.Errorf("the config DB's part is not shown: %+v", doc)
		}
		waitAPIServer(t, cs)
	})
}

// waitAPIServer waits for a resumed API server to answer again.
func waitAPIServer(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	eventually.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
			return fmt.Errorf("API server does not answer after the pause: %w", err)
		}
		return nil
	})
}
