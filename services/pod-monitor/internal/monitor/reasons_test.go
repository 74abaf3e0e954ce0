package monitor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podstatus"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// report adds a pod to a report as the pod cache does.
func report(r configdb.PodReport, p *corev1.Pod) {
	r.Pods[p.Name] = podstatus.Of(p)
	if why, ok := podstatus.Reason(p); ok {
		r.Reasons[p.Name] = why
	}
}

func (f *fixture) rawState(id string) (string, int64) {
	f.t.Helper()
	resp, err := f.store.Client().Get(context.Background(), f.store.Layout().StateKey(id))
	if err != nil {
		f.t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0
	}
	return string(resp.Kvs[0].Value), resp.Kvs[0].Version
}

func waitingPod(name, release, reason, msg string) *corev1.Pod {
	p := pod(name, release, corev1.PodPending)
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	return p
}

func readyPod(name, release string) *corev1.Pod {
	p := pod(name, release, corev1.PodRunning)
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	return p
}

// A reason is written with the pods, again when it changes even if the
// pods map does not, never when it is the same, and goes when its pod
// runs or goes away.
func TestReasonsWrittenWithThePods(t *testing.T) {
	f := newFixture(t)
	f.deployment("d", "helm")
	f.run()
	h := f.m.EventHandler()
	step := func(what string, version int64, want ...string) {
		t.Helper()
		f.settle()
		f.eventually(what, func() (bool, string) {
			raw, v := f.rawState("d")
			for _, w := range want {
				if w[0] == '!' && strings.Contains(raw, w[1:]) || w[0] != '!' && !strings.Contains(raw, w) {
					return false, fmt.Sprintf("state (version %d) has not %q:\n%s", v, w, raw)
				}
			}
			return v == version, fmt.Sprintf("state written %d times, want %d:\n%s", v, version, raw)
		})
	}

	p := waitingPod("p", "sdp-d", "ErrImagePull", "pull access denied")
	f.pods.set(p)
	h.OnAdd(p, false)
	q := pod("q", "sdp-d", corev1.PodPending)
	q.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available"}}
	f.pods.set(q)
	h.OnAdd(q, false)
	step("first write", 1, `"p": "PENDING"`, `"reason": "ErrImagePull"`, `"container": "main"`, `"message": "pull access denied"`,
		`"reason": "Unschedulable"`)

	// The same again: no write.
	h.OnUpdate(p, p.DeepCopy())
	step("same reason", 1)

	// The reason changes, the pods map does not.
	p2 := waitingPod("p", "sdp-d", "ImagePullBackOff", `Back-off pulling image "x"`)
	f.pods.set(p2)
	h.OnUpdate(p, p2)
	step("new reason", 2, `"reason": "ImagePullBackOff"`, `!ErrImagePull`)

	// q goes away: its reason with it.
	f.pods.del("q")
	h.OnDelete(q)
	step("q gone", 3, `!Unschedulable`, `!"q"`)

	// p runs: no reasons part at all.
	p3 := readyPod("p", "sdp-d")
	f.pods.set(p3)
	h.OnUpdate(p2, p3)
	step("p runs", 4, `"p": "RUNNING"`, `!reasons`)
	if raw, _ := f.rawState("d"); raw != "{\n  \"pods\": {\n    \"p\": \"RUNNING\"\n  }\n}" {
		t.Errorf("an entry without reasons is not as before the part existed:\n%s", raw)
	}
}

// The reasons part overwritten by someone else is written again; the
// release-manager's writes keep it.
func TestReasonsPartRepaired(t *testing.T) {
	f := newFixture(t)
	f.deployment("d", "helm")
	f.pods.set(waitingPod("p", "sdp-d", "CrashLoopBackOff", "back-off"))
	f.run()
	hasReason := func(what string) {
		t.Helper()
		f.eventually(what, func() (bool, string) {
			st, _, err := f.store.GetState(context.Background(), "d")
			return err == nil && st.Reasons["p"].Reason == "CrashLoopBackOff", fmt.Sprintf("%+v %v", st, err)
		})
	}
	hasReason("first write")
	f.settle()
	if _, err := f.store.UpdateRelease(context.Background(), "d", func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus {
		return configdb.ReleaseStatus{Name: "sdp-d", Status: configdb.ReleaseDeployed, Revision: 1}
	}); err != nil {
		t.Fatal(err)
	}
	f.settle()
	hasReason("after the release part's write")
	if got := f.writes("written"); got != 1 {
		t.Errorf("%v writes after the release part's, want 1", got)
	}
	if _, err := f.store.Client().Put(context.Background(), f.store.Layout().StateKey("d"),
		`{"pods": {"p": "PENDING"}, "reasons": {"p": {"reason": "Made up"}}}`); err != nil {
		t.Fatal(err)
	}
	hasReason("overwritten reasons part restored")
}
