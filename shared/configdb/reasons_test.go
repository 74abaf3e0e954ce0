package configdb

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

func exit(c int32) *int32 { return &c }

// The report the Python golden state_reasons.py.json holds: Go must write
// its bytes exactly, so that Python's json.loads reads the pods part of an
// entry with reasons as it reads its own.
func goldenReport() PodReport {
	return PodReport{
		Pods: map[string]PodStatus{"vis-receive-0": PodRunning, "worker-ab12": PodPending, "worker-cd34": PodFailed},
		Reasons: map[string]PodReason{
			"worker-ab12": {Reason: "CrashLoopBackOff", Container: "worker", ExitCode: exit(0), ExitReason: "Completed",
				Message: "back-off 10s restarting failed container=worker pod=worker-ab12_sdp(ü)"},
			"worker-cd34": {Reason: "OOMKilled", Container: "fetch", InitContainer: true, ExitCode: exit(137), OtherContainers: 1},
			// Not in the pods map: not written.
			"gone": {Reason: "Evicted"},
		},
	}
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".py.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeLikePythonStateReasons(t *testing.T) {
	doc, err := decodeStateDoc(readGolden(t, "state"))
	if err != nil {
		t.Fatal(err)
	}
	report := goldenReport()
	changed, err := podReportChange(func(PodReport) PodReport { return report })(doc)
	if err != nil || !changed {
		t.Fatalf("changed %v, %v", changed, err)
	}
	got, err := encodeValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "state_reasons", got)

	// What Python wrote reads back as the same report.
	st, err := DecodeState(readGolden(t, "state_reasons"))
	if err != nil {
		t.Fatal(err)
	}
	delete(report.Reasons, "gone")
	if !(PodReport{Pods: st.Pods, Reasons: st.Reasons}).Equal(report) {
		t.Errorf("decoded %+v, want %+v", st, report)
	}

	// Without reasons the entry is byte for byte the one written before the
	// part existed.
	changed, err = podReportChange(func(cur PodReport) PodReport {
		if !cur.Equal(report) {
			t.Errorf("current %+v", cur)
		}
		return PodReport{Pods: map[string]PodStatus{"vis-receive-0": PodRunning, "worker-ab12": PodPending}}
	})(doc)
	if err != nil || !changed {
		t.Fatalf("changed %v, %v", changed, err)
	}
	got, _ = encodeValue(doc)
	compareGolden(t, "state", got)
}

func TestPodReportChange(t *testing.T) {
	running := map[string]PodStatus{"p": PodRunning}
	pending := map[string]PodStatus{"p": PodPending}
	why := map[string]PodReason{"p": {Reason: "Unschedulable", Message: "0/3 nodes are available"}}
	for _, tc := range []struct {
		name    string
		before  string
		report  PodReport
		changed bool
		after   string
	}{
		{"nothing for nothing", `{}`, PodReport{}, false, `{}`},
		{"reasons of no pod", `{}`, PodReport{Reasons: why}, false, `{}`},
		{"pods and reason", `{}`, PodReport{Pods: pending, Reasons: why}, true,
			`{"pods": {"p": "PENDING"}, "reasons": {"p": {"message": "0/3 nodes are available", "reason": "Unschedulable"}}}`},
		{"same again", `{"pods": {"p": "PENDING"}, "reasons": {"p": {"message": "0/3 nodes are available", "reason": "Unschedulable"}}}`,
			PodReport{Pods: pending, Reasons: why}, false, ``},
		{"reason alone changes", `{"pods": {"p": "PENDING"}, "reasons": {"p": {"reason": "ErrImagePull"}}}`,
			PodReport{Pods: pending, Reasons: why}, true,
			`{"pods": {"p": "PENDING"}, "reasons": {"p": {"message": "0/3 nodes are available", "reason": "Unschedulable"}}}`},
		{"reason removed with the part", `{"pods": {"p": "PENDING"}, "reasons": {"p": {"reason": "ErrImagePull"}}, "x": 1}`,
			PodReport{Pods: running}, true, `{"pods": {"p": "RUNNING"}, "x": 1}`},
		{"unknown fields of a reason are the part's, replaced", `{"pods": {"p": "PENDING"}, "reasons": {"p": {"reason": "Unschedulable", "message": "0/3 nodes are available", "x": 1}}}`,
			PodReport{Pods: pending, Reasons: why}, true,
			`{"pods": {"p": "PENDING"}, "reasons": {"p": {"message": "0/3 nodes are available", "reason": "Unschedulable"}}}`},
		{"null part, no reasons", `{"pods": {"p": "RUNNING"}, "reasons": null}`, PodReport{Pods: running}, true, `{"pods": {"p": "RUNNING"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := decodeStateDoc([]byte(tc.before))
			if err != nil {
				t.Fatal(err)
			}
			changed, err := podReportChange(func(PodReport) PodReport { return tc.report })(doc)
			if err != nil || changed != tc.changed {
				t.Fatalf("changed %v, %v; want %v", changed, err, tc.changed)
			}
			if !changed {
				return
			}
			want, _ := decodeStateDoc([]byte(tc.after))
			if !sameJSON(doc, want) {
				got, _ := encodeValue(doc)
				t.Errorf("after\n%s\nwant %s", got, tc.after)
			}
		})
	}
}

func TestBadReasonsPart(t *testing.T) {
	for _, s := range []string{`{"reasons": []}`, `{"reasons": {"p": "x"}}`, `{"reasons": {"p": {"exit_code": "137"}}}`,
		`{"reasons": {"p": {"reason": 1}}}`, `{"reasons": {"p": {"exit_code": 1.5}}}`} {
		if _, err := DecodeState([]byte(s)); !errors.Is(err, ErrBadState) || !strings.Contains(err.Error(), "reason") {
			t.Errorf("%s: %v", s, err)
		}
		doc, _ := decodeStateDoc([]byte(s))
		if _, err := podReportChange(func(PodReport) PodReport { return PodReport{} })(doc); !errors.Is(err, ErrBadState) {
			t.Errorf("%s overwritten: %v", s, err)
		}
	}
}

func TestPodReasonBounded(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	r := PodReason{Reason: strings.Repeat("R", 100), Message: long, Container: "c\xff", ExitReason: "OOMKilled"}.Bounded()
	if len(r.Message) > MaxReasonMessage || !strings.HasSuffix(r.Message, "…") || !utf8.ValidString(r.Message) {
		t.Errorf("message %d bytes: %q", len(r.Message), r.Message)
	}
	if len(r.Reason) > MaxReasonWord || !strings.HasPrefix(r.Reason, "RRR") {
		t.Errorf("reason %q", r.Reason)
	}
	if r.Container != "c\uFFFD" || r.ExitReason != "OOMKilled" {
		t.Errorf("container %q exit reason %q", r.Container, r.ExitReason)
	}
	short := PodReason{Reason: "Evicted", Message: "The node was low on resource: memory."}
	if !short.Bounded().Equal(short) {
		t.Errorf("short reason changed: %+v", short.Bounded())
	}
}

func TestPodReasonEqual(t *testing.T) {
	a := PodReason{Reason: "Error", ExitCode: exit(1)}
	for _, tc := range []struct {
		b    PodReason
		want bool
	}{
		{PodReason{Reason: "Error", ExitCode: exit(1)}, true},
		{PodReason{Reason: "Error", ExitCode: exit(0)}, false},
		{PodReason{Reason: "Error"}, false},
		{PodReason{Reason: "OOMKilled", ExitCode: exit(1)}, false},
	} {
		if got := a.Equal(tc.b); got != tc.want {
			t.Errorf("%+v equal %+v: %v", a, tc.b, got)
		}
	}
}

// A release part with readiness and drift, as the Python golden
// state_drift.py.json holds it: Go writes its bytes exactly, and reads
// back what Python wrote.
func TestEncodeLikePythonStateDrift(t *testing.T) {
	doc, err := decodeStateDoc(readGolden(t, "state"))
	if err != nil {
		t.Fatal(err)
	}
	want := ReleaseStatus{Chart: "vis-receive", Revision: 2, Status: "deployed",
		Readiness: ReadinessNotReady, ReadinessReason: "StatefulSet worker: 0 of 1 replicas ready",
		Drift: []DriftRecord{
			{Kind: "Deployment", Name: "receive", Change: DriftDeleted, Seen: "2026-12-05T10:00:00Z", Corrected: "2026-12-05T10:00:01Z"},
			{Kind: "StatefulSet", Name: "worker", Change: DriftChanged, Seen: "2026-12-05T10:00:02Z",
				Fields: []string{"spec.replicas", "spec.template.spec.containers[name=receiver].image"}},
		}}
	changed, err := applyPart(doc, PartRelease, releasePart(func(cur ReleaseStatus, _ bool) ReleaseStatus { return want }))
	if err != nil || !changed {
		t.Fatalf("changed %v, %v", changed, err)
	}
	got, err := encodeValue(doc)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "state_drift", got)

	st, err := DecodeState(readGolden(t, "state_drift"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Release == nil || !st.Release.Equal(want) {
		t.Errorf("decoded %+v, want %+v", st.Release, want)
	}
}
