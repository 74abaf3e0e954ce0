package servicetest

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// LintMetrics fails t for every promlint problem of what reg gathers and for
// every name in want that it does not gather (the metrics a dashboard or
// alert relies on). A vector with no child is not gathered, so the caller
// gives every vector a series first, or it escapes both checks.
func LintMetrics(t testing.TB, reg prometheus.Gatherer, want ...string) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("%s not gathered; have %v", w, names)
		}
	}
}
