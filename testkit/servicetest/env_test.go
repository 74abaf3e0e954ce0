package servicetest

import "testing"

// fatalTB records Fatalf instead of ending the test, so that the refusal can be checked.
type fatalTB struct {
	testing.TB
	failed bool
}

func (f *fatalTB) Helper()               {}
func (f *fatalTB) Fatalf(string, ...any) { f.failed = true }

func TestEnvInt(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    int
		refused bool
	}{
		{"", 7, false},
		{"12", 12, false},
		{"0", 0, true},
		{"-3", 0, true},
		{"many", 0, true},
	} {
		t.Setenv("SDP_TEST_ENVINT", tc.value)
		tb := &fatalTB{TB: t}
		got := EnvInt(tb, "SDP_TEST_ENVINT", 7)
		if tb.failed != tc.refused || (!tc.refused && got != tc.want) {
			t.Errorf("%q: got %d (refused %v), want %d (refused %v)", tc.value, got, tb.failed, tc.want, tc.refused)
		}
	}
}
