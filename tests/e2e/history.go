package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Run records, one line each, kept across the runs of make e2e on a machine
// (SDP_E2E_HISTORY, under the cache directory, so shared by every clone):
// the convergence target holds for every run, not for the one whose report
// is committed, and the report says over how many it held.

// RunRecord is one chaos run's outcome.
type RunRecord struct {
	Date   time.Time
	Commit string
	Seed   uint64
	// Converged says the run converged within its wait; Deployer and
	// Whole are then how long after the last fault the deployer's part
	// and the whole system did.
	Converged       bool
	Deployer, Whole time.Duration
	// LastFault names the fault that ended last.
	LastFault string
	// Measure says how convergence was seen: MeasureWatch, or for runs
	// recorded earlier MeasureWatchV1 or MeasurePoll.
	Measure string
}

// How a run saw convergence. Polling read everything again and again,
// each read taking CPU from the services and ending ~0.5-1 s after what it
// saw; its figures are not comparable with watching's. The first watching
// runs confirmed a converged view with a read of everything that counted a
// pod the cluster made while it read against the deployer, and so, while
// the cluster was still making pods after the faults, a run's deployer
// figure against the pods' (see Converge).
const (
	MeasureWatch   = "watch"
	MeasureWatchV1 = "watch-v1"
	MeasurePoll    = "poll"
)

// measures are the measures HistorySummary sums up, in its order, with
// what it says of each.
var measures = []struct{ measure, says string }{
	{MeasureWatch, "seen by watching"},
	{MeasureWatchV1, "seen by watching, confirmed by a read that counted pods made while it read against the deployer (before the fix)"},
	{MeasurePoll, "seen by polling (before the check watched)"},
}

const historyHeader = "# date\tcommit\tseed\tconverged\tdeployer_s\twhole_s\tlast_fault\tmeasure"

// RecordOf is the record of a finished chaos run.
func RecordOf(date time.Time, commit string, res *ChaosResult) RunRecord {
	rec := RunRecord{Date: date.UTC().Truncate(time.Second), Commit: commit, Seed: res.Seed, Converged: len(res.Mismatches) == 0,
		Deployer: res.DeployerConvergeTook, Whole: res.ConvergeTook, Measure: MeasureWatch}
	var end time.Duration
	for _, f := range res.Faults {
		if e := f.Start + f.Took; e >= end {
			end = e
			rec.LastFault = strings.TrimSpace(string(f.Kind) + " " + f.Service)
		}
	}
	return rec
}

func (r RunRecord) line() string {
	clean := func(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(s) }
	return fmt.Sprintf("%s\t%s\t%d\t%t\t%.3f\t%.3f\t%s\t%s", r.Date.Format(time.RFC3339), clean(r.Commit), r.Seed, r.Converged,
		r.Deployer.Seconds(), r.Whole.Seconds(), clean(r.LastFault), clean(r.Measure))
}

func parseRecord(line string) (RunRecord, error) {
	f := strings.Split(line, "\t")
	// Lines of 7 fields were written before the measure was recorded:
	// those runs polled.
	r := RunRecord{Measure: MeasurePoll}
	switch len(f) {
	case 7:
	case 8:
		r.Measure = f[7]
	default:
		return RunRecord{}, fmt.Errorf("%d fields, want 8 (or 7)", len(f))
	}
	var err error
	if r.Date, err = time.Parse(time.RFC3339, f[0]); err != nil {
		return RunRecord{}, err
	}
	r.Commit, r.LastFault = f[1], f[6]
	if r.Seed, err = strconv.ParseUint(f[2], 10, 64); err != nil {
		return RunRecord{}, err
	}
	if r.Converged, err = strconv.ParseBool(f[3]); err != nil {
		return RunRecord{}, err
	}
	for i, dst := range []*time.Duration{&r.Deployer, &r.Whole} {
		s, err := strconv.ParseFloat(f[4+i], 64)
		if err != nil {
			return RunRecord{}, err
		}
		*dst = time.Duration(s * float64(time.Second)).Round(time.Millisecond)
	}
	return r, nil
}

// AppendHistory adds rec to the history file at path.
func AppendHistory(path string, rec RunRecord) error {
	_, err := os.Stat(path)
	header := errors.Is(err, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if header {
		if _, err := fmt.Fprintln(f, historyHeader); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := fmt.Fprintln(f, rec.line()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadHistory reads the history file at path; a line it cannot read is an
// error that names it.
func ReadHistory(path string) ([]RunRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []RunRecord
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := parseRecord(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// HistorySummary says, over the runs recorded, how many converged, the
// range and median of the deployer's convergence after the last fault,
// and how many met bound; the runs that watched and those that polled
// each on their own, watched first.
func HistorySummary(recs []RunRecord, bound time.Duration) string {
	if len(recs) == 0 {
		return "no runs recorded"
	}
	var parts []string
	known := map[string]bool{}
	for _, m := range measures {
		known[m.measure] = true
		if of := withMeasure(recs, func(s string) bool { return s == m.measure }); len(of) > 0 {
			parts = append(parts, m.says+", "+summary(of, bound))
		}
	}
	if of := withMeasure(recs, func(s string) bool { return !known[s] }); len(of) > 0 {
		parts = append(parts, "seen in other ways, "+summary(of, bound))
	}
	return strings.Join(parts, "; ")
}

func withMeasure(recs []RunRecord, keep func(string) bool) []RunRecord {
	var of []RunRecord
	for _, r := range recs {
		if keep(r.Measure) {
			of = append(of, r)
		}
	}
	return of
}

func summary(recs []RunRecord, bound time.Duration) string {
	var ds []time.Duration
	met := 0
	for _, r := range recs {
		if !r.Converged {
			continue
		}
		ds = append(ds, r.Deployer)
		if r.Deployer <= bound {
			met++
		}
	}
	s := fmt.Sprintf("%d runs from %s to %s: %d converged", len(recs), recs[0].Date.Format("2006-01-02 15:04"), recs[len(recs)-1].Date.Format("2006-01-02 15:04"), len(ds))
	if len(ds) == 0 {
		return s
	}
	slices.Sort(ds)
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return s + fmt.Sprintf(", the deployer's part %s after the last fault at the least, %s at the median, %s at the most; %d of %d within %s",
		ms(ds[0]), ms(ds[len(ds)/2]), ms(ds[len(ds)-1]), met, len(recs), bound)
}
