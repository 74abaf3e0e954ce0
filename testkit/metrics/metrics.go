// Package metrics is the one reader of a /metrics page in tests: it parses
// the Prometheus text format with prometheus/common/expfmt and answers "what
// is this counter, gauge or histogram count" by name and labels.
//
// It is part of the test kit, which requires nothing of the product;
// docs/architecture.md, §1. The rooms.
package metrics

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

var client = &http.Client{Timeout: 5 * time.Second}

// Scrape fetches url (a /metrics page) and parses it.
func Scrape(url string) (Families, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %s", url, resp.Status)
	}
	f, err := Parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return f, nil
}

// Parse reads the Prometheus text format.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return mf, nil
}

// Gather reads a registry in-process, as a scrape would read it served.
func Gather(g prometheus.Gatherer) (Families, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	f := make(Families, len(mfs))
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	return f, nil
}

// ParseText is Parse of a page already read.
func ParseText(s string) (Families, error) { return Parse(strings.NewReader(s)) }

// Names are the families' names, sorted.
func (f Families) Names() []string { return slices.Sorted(maps.Keys(f)) }

// Text is the page again in the text format, only the families whose names
// start with prefix: for a failure message.
func (f Families) Text(prefix string) string {
	var b strings.Builder
	for _, name := range f.Names() {
		if strings.HasPrefix(name, prefix) {
			_, _ = expfmt.MetricFamilyToText(&b, f[name])
		}
	}
	return b.String()
}

// Has reports whether the page has a family called name.
func (f Families) Has(name string) bool { return f[name] != nil }

// Type is the family's type, and false when there is no such family.
func (f Families) Type(name string) (dto.MetricType, bool) {
	mf := f[name]
	if mf == nil {
		return 0, false
	}
	return mf.GetType(), true
}

// Value is the value of the counter, gauge or untyped series called name
// whose labels are exactly labels (name, value pairs), and false when there
// is no such series.
func (f Families) Value(name string, labels ...string) (float64, bool) {
	for _, m := range f.series(name, labels, true) {
		return value(m), true
	}
	return 0, false
}

// Sum adds the counter, gauge or untyped series called name whose labels
// include labels (name, value pairs; none: every series).
func (f Families) Sum(name string, labels ...string) float64 {
	var s float64
	for _, m := range f.series(name, labels, false) {
		s += value(m)
	}
	return s
}

// HistogramCount is the observation count of the histogram series called
// name whose labels are exactly labels, and false when there is none.
func (f Families) HistogramCount(name string, labels ...string) (uint64, bool) {
	h, ok := f.Histogram(name, labels...)
	if !ok {
		return 0, false
	}
	return h.GetSampleCount(), true
}

// Histogram is the histogram series called name whose labels are exactly
// labels, and false when there is none.
func (f Families) Histogram(name string, labels ...string) (*dto.Histogram, bool) {
	for _, m := range f.series(name, labels, true) {
		if h := m.GetHistogram(); h != nil {
			return h, true
		}
	}
	return nil, false
}

// Buckets are a histogram's cumulative counts by upper bound, +Inf last.
func Buckets(h *dto.Histogram) (bounds []float64, counts []uint64) {
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
		counts = append(counts, b.GetCumulativeCount())
	}
	return bounds, counts
}

// series are the series called name with labels: exactly those (exact) or
// at least those.
func (f Families) series(name string, labels []string, exact bool) []*dto.Metric {
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("metrics: labels %q are not name, value pairs", labels))
	}
	mf := f[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range mf.GetMetric() {
		if match(m, labels, exact) {
			out = append(out, m)
		}
	}
	return out
}

func match(m *dto.Metric, labels []string, exact bool) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	if exact && len(have) != len(labels)/2 {
		return false
	}
	for i := 0; i < len(labels); i += 2 {
		if v, ok := have[labels[i]]; !ok || v != labels[i+1] {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}
