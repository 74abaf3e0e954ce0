package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/helmtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
)

// testTakeover is the switch from the Python deployer, as a site makes it:
// the Python deployer's releases run (installed as it installs them: no
// labels, <prefix>-<id> names, values from the entry), their entries are in
// the config DB and their pods are running; then the release-manager
// starts. An unchanged release must be adopted with no new revision and
// the same pod; a release whose entry changed meanwhile is upgraded exactly
// once; a release with no entry is kept and reported; and the pod-monitor
// reports the adopted releases' pods.
func testTakeover(t *testing.T, sys *System, script *Script, report *Report) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ns, prefix := sys.Env.HelmNamespace, sys.Env.HelmPrefix
	const chartName = "demo-receive"
	same, changed, orphan := "takeover-same", "takeover-changed", "takeover-orphan"

	// The Python deployer runs instead of ours: no release-manager.
	for _, r := range sys.Replicas["release-manager"] {
		if err := r.Stop(30 * time.Second); err != nil {
			t.Fatalf("stop %s: %v", r.Name, err)
		}
	}
	cfg := helmtest.HelmConfig(t, sys.CP, ns)
	ch, err := loader.Load(filepath.Join(sys.Root, "charts", "examples", chartName))
	if err != nil {
		t.Fatal(err)
	}
	pyInstall := func(id string, values map[string]any) {
		t.Helper()
		install := action.NewInstall(cfg)
		install.ReleaseName, install.Namespace, install.Timeout = ReleaseName(prefix, id), ns, time.Minute
		if _, err := install.Run(ch, values); err != nil {
			t.Fatalf("install %s as the Python deployer would: %v", id, err)
		}
	}
	one := map[string]any{"replicas": 1}
	pyInstall(same, one)
	pyInstall(changed, one)
	pyInstall(orphan, one)
	// The entries, as the old library writes them (id and type).
	if err := script.Put(ctx, same, FormIDType, chartName, one); err != nil {
		t.Fatal(err)
	}
	if err := script.Put(ctx, changed, FormIDType, chartName, map[string]any{"replicas": 2}); err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for _, id := range []string{same, changed, orphan} {
		pod, err := runningPod(ctx, sys, ReleaseName(prefix, id))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		uids[id] = string(pod.UID)
	}

	step := time.Now()
	for _, r := range sys.Replicas["release-manager"] {
		if err := r.Start(sys.Bin("release-manager")); err != nil {
			t.Fatalf("start %s: %v", r.Name, err)
		}
	}
	if _, err := script.WaitState(ctx, same, 90*time.Second, "adopted: deployed, revision 1, 1 pod RUNNING", Deployed(1, 1)); err != nil {
		t.Errorf("unchanged release: %v", err)
	}
	if _, err := script.WaitState(ctx, changed, 90*time.Second, "adopted and upgraded: revision 2, 2 pods RUNNING", Deployed(2, 2)); err != nil {
		t.Errorf("changed entry: %v", err)
	}
	report.Happy = append(report.Happy, Timing{"takeover: release-manager started over the Python deployer's 3 releases → adopted, the changed one upgraded", time.Since(step)})
	leader, err := sys.WaitLeader(ctx, "release-manager", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Settled: a late second upgrade or a relabel that made a revision
	// would show now.
	eventually.Eventually(t, 30*time.Second, func() error {
		m, err := metrics.Scrape("http://" + leader.Addr() + "/metrics")
		if err != nil {
			return err
		}
		if v, ok := m.Value("sdp_helmdeploy_release_manager_unowned_releases"); !ok || v != 1 {
			return fmt.Errorf("unowned_releases = %v (found %v), want 1 (%s)", v, ok, orphan)
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	o, err := Observe(ctx, sys.Store, sys.Kube, ns)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]struct {
		rev   int
		owned bool
	}{same: {1, true}, changed: {2, true}, orphan: {1, false}} {
		r, ok := o.Releases[ReleaseName(prefix, id)]
		switch {
		case !ok:
			t.Errorf("%s: release gone", id)
		case r.Revision != want.rev || r.Owned != want.owned || r.Status != "deployed":
			t.Errorf("%s: release %s revision %d owned %v, want deployed revision %d owned %v", id, r.Status, r.Revision, r.Owned, want.rev, want.owned)
		}
	}
	for _, id := range []string{same, changed, orphan} {
		if !podPresent(o.Pods, uids[id]) {
			t.Errorf("%s: the pod that ran before the takeover (uid %s) is gone: the takeover restarted it", id, uids[id])
		}
	}
	if st, found := o.States[same]; !found || st.Pods == nil || len(st.Pods) != 1 {
		t.Errorf("%s: the pod-monitor's pods map %v, want the adopted release's one pod", same, st.Pods)
	}
	if _, found := o.States[orphan]; found {
		t.Errorf("%s: a state entry was made for a release with no entry", orphan)
	}
	if n := countLines(leader, "release without this deployer's label and with no helm entry"); n != 1 {
		t.Errorf("the leader logged the unowned release %d times, want once", n)
	}

	// Leave the namespace as the happy path expects it: the adopted ones
	// go through their entries, the unowned one as an operator would.
	for _, id := range []string{same, changed} {
		if err := script.Delete(ctx, id, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{same, changed} {
		if _, err := script.WaitState(ctx, id, 90*time.Second, "state entry gone", Gone); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if _, err := action.NewUninstall(cfg).Run(ReleaseName(prefix, orphan)); err != nil {
		t.Errorf("uninstall %s: %v", orphan, err)
	}
	requireConverged(ctx, t, sys, script, "after takeover")
}

// runningPod waits for a Running pod of release and returns it.
func runningPod(ctx context.Context, sys *System, release string) (corev1.Pod, error) {
	var pod corev1.Pod
	err := eventually.Poll(ctx, 90*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
		pods, err := sys.Kube.CoreV1().Pods(sys.Env.HelmNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				pod = p
				return nil
			}
		}
		return fmt.Errorf("no Running pod of release %s among %d", release, len(pods.Items))
	})
	return pod, err
}

func podPresent(pods []corev1.Pod, uid string) bool {
	for _, p := range pods {
		if string(p.UID) == uid && p.DeletionTimestamp == nil {
			return true
		}
	}
	return false
}

// countLines counts the lines of a replica's current log holding msg.
func countLines(r *Replica, msg string) int {
	return strings.Count(r.Proc().Log(), msg)
}
