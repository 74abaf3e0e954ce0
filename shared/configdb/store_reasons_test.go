package configdb_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func setReport(r configdb.PodReport) func(configdb.PodReport) configdb.PodReport {
	return func(configdb.PodReport) configdb.PodReport { return r }
}

// The pods and reasons parts go in one write, only when either changes;
// the release-manager's writes keep the reasons part as it is.
func TestPodReportWrites(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
	pending := map[string]configdb.PodStatus{"p": configdb.PodPending, "q": configdb.PodRunning}
	pull := configdb.PodReport{Pods: pending, Reasons: map[string]configdb.PodReason{
		"p": {Reason: "ErrImagePull", Container: "main", Message: strings.Repeat("x", 1000)},
	}}
	res, err := e.store.UpdatePodReport(c, "d", setReport(pull))
	if err != nil || !res.Written {
		t.Fatalf("first: %+v %v", res, err)
	}
	rev := mustModRev(t, e, "/deploy/d/state")
	raw, _ := e.getRaw(t, "/deploy/d/state")
	if !strings.Contains(raw, `"reason": "ErrImagePull"`) || strings.Contains(raw, strings.Repeat("x", configdb.MaxReasonMessage)) {
		t.Errorf("stored\n%s", raw)
	}
	// The message as stored is the bounded one, so the same report again
	// (unbounded) is no change.
	if res, err := e.store.UpdatePodReport(c, "d", setReport(pull)); err != nil || res.Written {
		t.Errorf("repeat: %+v %v", res, err)
	}
	if got := mustModRev(t, e, "/deploy/d/state"); got != rev {
		t.Errorf("mod revision moved from %d to %d without a change", rev, got)
	}

	if _, err := e.store.UpdateRelease(c, "d", func(configdb.ReleaseStatus, bool) configdb.ReleaseStatus {
		return configdb.ReleaseStatus{Status: configdb.ReleaseDeployed, Revision: 1}
	}); err != nil {
		t.Fatal(err)
	}
	st, _, err := e.store.GetState(c, "d")
	if err != nil || st.Reasons["p"].Reason != "ErrImagePull" || st.Release == nil {
		t.Errorf("after release update: %+v %v", st, err)
	}

	// The same pods with another reason is a write of its own.
	crash := configdb.PodReport{Pods: pending, Reasons: map[string]configdb.PodReason{"p": {Reason: "CrashLoopBackOff", Container: "main"}}}
	if res, err := e.store.UpdatePodReport(c, "d", func(cur configdb.PodReport) configdb.PodReport {
		if cur.Reasons["p"].Reason != "ErrImagePull" || cur.Pods["q"] != configdb.PodRunning {
			t.Errorf("current %+v", cur)
		}
		return crash
	}); err != nil || !res.Written {
		t.Errorf("new reason: %+v %v", res, err)
	}
	// Running: the part goes, the release part stays.
	if res, err := e.store.UpdatePodReport(c, "d", setReport(configdb.PodReport{Pods: map[string]configdb.PodStatus{"p": configdb.PodRunning}})); err != nil || !res.Written {
		t.Errorf("running: %+v %v", res, err)
	}
	raw, _ = e.getRaw(t, "/deploy/d/state")
	if strings.Contains(raw, "reasons") || !strings.Contains(raw, `"release"`) {
		t.Errorf("after running:\n%s", raw)
	}
}

func TestPodReportRefusesBadReasons(t *testing.T) {
	e := newStore(t)
	c := ctx(t)
	e.putRaw(t, "/deploy/d", `{"key": "d", "kind": "helm", "args": {"chart": "c"}}`)
	e.putRaw(t, "/deploy/d/state", `{"reasons": ["not", "mine"]}`)
	_, err := e.store.UpdatePodReport(c, "d", setReport(configdb.PodReport{Pods: map[string]configdb.PodStatus{"p": configdb.PodRunning}}))
	if !errors.Is(err, configdb.ErrBadState) {
		t.Errorf("bad reasons part: %v", err)
	}
	if raw, _ := e.getRaw(t, "/deploy/d/state"); raw != `{"reasons": ["not", "mine"]}` {
		t.Errorf("overwritten: %s", raw)
	}
	if _, err := e.store.UpdatePodReport(c, "ghost", setReport(configdb.PodReport{})); !errors.Is(err, configdb.ErrNoDeployment) || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("no deployment: %v", err)
	}
}
