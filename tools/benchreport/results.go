// Package benchreport turns the outputs of `make bench` (go test -bench
// text, one file per benchmark target) into docs/benchmarks.md: the
// machine, the method of each benchmark, every target of the service
// issues beside what was reached, what limits a missed one, and plots of
// throughput and latency.
package benchreport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// Results are the runs of every benchmark read, by name: the benchmark
// name without its "Benchmark" prefix and GOMAXPROCS suffix, with its
// sub-benchmark parts ("InstallN/sdk/N=60").
type Results struct {
	runs map[string][]Run
	// CPU is the "cpu:" line of the outputs (the last one read).
	CPU string
}

// Run is one result line: its values by unit, as printed.
type Run map[string]float64

// NewResults returns an empty set.
func NewResults() *Results { return &Results{runs: map[string][]Run{}} }

// Read adds the results of one go test -bench output. Lines that are not
// results (logs, PASS, ok) are skipped, as the format says; a result line
// that does not parse is an error.
func (rs *Results) Read(r io.Reader, fileName string) error {
	br := benchfmt.NewReader(r, fileName)
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.SyntaxError:
			return rec
		case *benchfmt.Result:
			if cpu := rec.GetConfig("cpu"); cpu != "" {
				rs.CPU = cpu
			}
			run := Run{}
			for _, v := range rec.Values {
				// The reader converts ns/op to sec/op; the report speaks
				// in the units the benchmarks print.
				if v.OrigUnit != "" {
					run[v.OrigUnit] = v.OrigValue
				} else {
					run[v.Unit] = v.Value
				}
			}
			name := benchName(rec.Name)
			rs.runs[name] = append(rs.runs[name], run)
		}
	}
	if err := br.Err(); err != nil {
		return fmt.Errorf("read %s: %w", fileName, err)
	}
	return nil
}

// ReadFile adds the results in a file; a missing file adds nothing and
// reports false, so that a report can be written from the benchmarks that
// ran.
func (rs *Results) ReadFile(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("benchmark results: %w", err)
	}
	defer f.Close()
	return true, rs.Read(f, path)
}

// benchName drops the GOMAXPROCS suffix ("-2"), which says nothing here:
// every result of a report comes from the same machine.
func benchName(n benchfmt.Name) string {
	base, parts := n.Parts()
	var b strings.Builder
	b.Write(base)
	for _, p := range parts {
		if len(p) > 0 && p[0] == '-' {
			continue
		}
		b.Write(p)
	}
	return b.String()
}

// Names lists the benchmarks read, sorted.
func (rs *Results) Names() []string {
	names := make([]string, 0, len(rs.runs))
	for n := range rs.runs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Runs returns the runs of a benchmark.
func (rs *Results) Runs(name string) []Run { return rs.runs[name] }

// Values returns a unit's values over the runs of a benchmark that have
// it, in the order read.
func (rs *Results) Values(name, unit string) []float64 {
	var vs []float64
	for _, r := range rs.runs[name] {
		if v, ok := r[unit]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// Summary is the median and range of a unit over runs.
type Summary struct {
	N                int
	Median, Min, Max float64
	values           []float64
}

// Summarize a unit of a benchmark; ok is false when no run has it.
func (rs *Results) Summarize(name, unit string) (s Summary, ok bool) {
	vs := rs.Values(name, unit)
	if len(vs) == 0 {
		return Summary{}, false
	}
	sorted := slices.Clone(vs)
	slices.Sort(sorted)
	mid := len(sorted) / 2
	med := sorted[mid]
	if len(sorted)%2 == 0 {
		med = (sorted[mid-1] + sorted[mid]) / 2
	}
	return Summary{N: len(sorted), Median: med, Min: sorted[0], Max: sorted[len(sorted)-1], values: vs}, true
}

// Count is how many of the runs satisfy ok.
func (s Summary) Count(ok func(float64) bool) int {
	n := 0
	for _, v := range s.values {
		if ok(v) {
			n++
		}
	}
	return n
}

// String is "median (min–max)", or the one value of a single run.
func (s Summary) String() string {
	if s.N == 1 || s.Min == s.Max {
		return Num(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", Num(s.Median), Num(s.Min), Num(s.Max))
}

// Num prints a figure with about three significant digits, never in
// exponent notation.
func Num(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return trimZeros(fmt.Sprintf("%.1f", v))
	case a >= 1:
		return trimZeros(fmt.Sprintf("%.2f", v))
	case a >= 0.01:
		return trimZeros(fmt.Sprintf("%.3f", v))
	}
	return trimZeros(fmt.Sprintf("%.5f", v))
}

func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
