package configdb

import (
	"encoding/json"
	"os"
	"testing"
)

// The golden files were written by Python's json.dumps(indent=2,
// sort_keys=True, ensure_ascii=False), as ska-sdp-config writes values
// (testdata/pywrite.py). The values below are built in Go, not read from the
// files, so these are not round trips.

func TestEncodeLikePythonStrings(t *testing.T) {
	v := map[string]any{
		"quote\"back\\slash": "tab\tnl\ncr\rbs\bff\f",
		"ctrl":               "\x00\x01\x1f\x7f",
		"unicode":            "Ω µ 漢字 \u2028 \u2029 😀",
		"html":               "<a href='x'>&</a>",
		"Zupper":             "",
		"émoji-key":          "😀",
	}
	checkGolden(t, "strings", v)
}

func TestEncodeLikePythonDeployment(t *testing.T) {
	d := Deployment{
		ID:    "proc-pb-test-20261127-00000-vis-receive",
		Kind:  KindHelm,
		Chart: "vis-receive",
		Values: map[string]any{
			"receiver": map[string]any{"port": 9000, "scale": json.Number("1.0")},
			"zeta":     []any{1, json.Number("2.5e-05"), "x"},
			"alpha":    nil,
		},
	}
	got, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "deployment", got)
}

func checkGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := encodeValue(v)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, name, got)
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	want, err := os.ReadFile("testdata/" + name + ".py.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s: encoded\n%s\nPython wrote\n%s", name, got, want)
	}
}

func TestEncodeRejectsBadNumber(t *testing.T) {
	if _, err := encodeValue(map[string]any{"n": json.Number("1x")}); err == nil {
		t.Error("invalid json.Number encoded")
	}
}

func TestEncodeInvalidUTF8(t *testing.T) {
	got, err := encodeValue("a\xffb")
	if err != nil || string(got) != "\"a\ufffdb\"" {
		t.Errorf("got %q, %v", got, err)
	}
}
