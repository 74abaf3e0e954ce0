package configdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
)

// Fuzz targets for every decoder of outside input. `make test` runs each
// briefly; the seeds below also run as plain tests.

func FuzzDecodeDeployment(f *testing.F) {
	for _, s := range []string{
		`{"key": "d", "kind": "helm", "args": {"chart": "c", "values": {"a.b": 1, "a": {"c": [1, 2.5, null]}}}}`,
		`{"dpl_id": "d", "type": "helm", "args": {"chart": "c", "values": {"x\\.y": "z"}}}`,
		`{"kind": "slurm"}`, `[]`, `{`, `{"key": "d", "kind": "helm", "args": {"chart": "c", "values": {"a": 1, "a.b": 2}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		d, err := DecodeDeployment("d", []byte(data))
		if err != nil {
			if !errors.Is(err, ErrBadDeployment) || !strings.Contains(err.Error(), "/deploy/d") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if !d.IsHelm() {
			return
		}
		// What was read can be written, and the written entry reads back
		// the same.
		enc, err := d.Encode()
		if err != nil {
			t.Fatalf("encode %+v: %v", d, err)
		}
		d2, err := DecodeDeployment("d", enc)
		if err != nil {
			t.Fatalf("re-decode %s: %v", enc, err)
		}
		enc2, _ := d2.Encode()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	for _, s := range []string{`{"pods": {"a": "RUNNING"}, "release": {"revision": 2, "x": [1]}}`, `{}`, `null`, `{"pods": 1}`, ``,
		`{"pods": {"a": "PENDING"}, "reasons": {"a": {"reason": "ErrImagePull", "exit_code": 1, "x": null}}}`, `{"reasons": {"a": []}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		st, err := DecodeState([]byte(data))
		if err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("error is not ErrBadState: %v", err)
			}
			return
		}
		doc, err := decodeStateDoc([]byte(data))
		if err != nil {
			t.Fatalf("DecodeState accepted what decodeStateDoc refuses: %v", err)
		}
		// Replacing the pods part keeps every other part as it was.
		changed, err := applyPart(doc, PartPods, podsPart(func(map[string]PodStatus) map[string]PodStatus {
			return map[string]PodStatus{"p": PodRunning}
		}))
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		out, err := encodeValue(doc)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		st2, err := DecodeState(out)
		if err != nil || st2.Pods["p"] != PodRunning || len(st2.Pods) != 1 {
			t.Fatalf("after update: %+v %v (changed %v)", st2, err, changed)
		}
		if (st.Release == nil) != (st2.Release == nil) || (st.Release != nil && !st.Release.Equal(*st2.Release)) {
			t.Fatalf("release part changed: %+v -> %+v", st.Release, st2.Release)
		}
		if !maps.EqualFunc(st.Reasons, st2.Reasons, PodReason.Equal) {
			t.Fatalf("reasons part changed by a pods update: %+v -> %+v", st.Reasons, st2.Reasons)
		}
		// Writing both parts keeps the release part too, and what was
		// written reads back.
		why := PodReason{Reason: "Unschedulable", ExitCode: new(int32)}
		if _, err := podReportChange(func(PodReport) PodReport {
			return PodReport{Pods: map[string]PodStatus{"p": PodPending}, Reasons: map[string]PodReason{"p": why, "gone": why}}
		})(doc); err != nil {
			t.Fatalf("report: %v", err)
		}
		out, _ = encodeValue(doc)
		st3, err := DecodeState(out)
		if err != nil || len(st3.Reasons) != 1 || !st3.Reasons["p"].Equal(why) || st3.Pods["p"] != PodPending {
			t.Fatalf("after report: %+v %v", st3, err)
		}
		if (st.Release == nil) != (st3.Release == nil) || (st.Release != nil && !st.Release.Equal(*st3.Release)) {
			t.Fatalf("release part changed by a report: %+v -> %+v", st.Release, st3.Release)
		}
	})
}

func FuzzLayoutPath(f *testing.F) {
	for _, s := range []string{"2/deploy/x", "3/test/deploy/x", "x/y", "", "4/test/deploy/x/state", "99999999999999999999/a"} {
		f.Add(s)
	}
	l, _ := NewLayout("/test")
	f.Fuzz(func(t *testing.T, key string) {
		p, err := l.Path(key)
		if err != nil {
			return
		}
		if back := l.Key(p); back != key {
			t.Fatalf("Path(%q) = %q, Key of that = %q", key, p, back)
		}
		if id, err := l.DeploymentID(key); err == nil && l.DeploymentKey(id) != key {
			t.Fatalf("DeploymentID(%q) = %q does not map back", key, id)
		}
	})
}

func FuzzEncodeValue(f *testing.F) {
	for _, s := range []string{`{"a": "\u2028<>&\u0000", "b": [1.50, -0, 1e400]}`, `"x"`, `[]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		v, err := decodeGeneric([]byte(data))
		if err != nil {
			return
		}
		out, err := encodeValue(v)
		if err != nil {
			t.Fatalf("encode %v: %v", v, err)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON written: %q", out)
		}
		v2, err := decodeGeneric(out)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if out2, _ := encodeValue(v2); !bytes.Equal(out, out2) {
			t.Fatalf("not stable: %q vs %q", out, out2)
		}
	})
}
