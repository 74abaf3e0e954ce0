package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/tests/e2e/chaos"
)

func TestHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.tsv")
	day := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	runs := []RunRecord{
		RecordOf(day, "abc", &ChaosResult{Seed: 7, DeployerConvergeTook: 2935 * time.Millisecond, ConvergeTook: 3 * time.Second,
			Faults: []FaultRecord{
				{Fault: chaos.Fault{Kind: chaos.PauseLeader, Service: "pod-monitor"}, Start: 2 * time.Minute, Took: 22 * time.Second},
				{Fault: chaos.Fault{Kind: chaos.StopAPIServer}, Start: time.Minute, Took: 43 * time.Second},
			}}),
		RecordOf(day.Add(time.Hour), "def-dirty", &ChaosResult{Seed: 8, DeployerConvergeTook: 12 * time.Second, ConvergeTook: 14 * time.Second}),
		RecordOf(day.Add(2*time.Hour), "def", &ChaosResult{Seed: 9, Mismatches: []string{"missing release"}}),
		RecordOf(day.Add(3*time.Hour), "def", &ChaosResult{Seed: 10, DeployerConvergeTook: 800 * time.Millisecond}),
	}
	if runs[0].LastFault != "pause the leader pod-monitor" {
		t.Errorf("last fault %q, want the one that ended last", runs[0].LastFault)
	}
	for _, r := range runs {
		if err := AppendHistory(path, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(runs) {
		t.Fatalf("read %d runs, want %d", len(got), len(runs))
	}
	for i := range runs {
		if got[i] != runs[i] {
			t.Errorf("run %d read back as %+v, want %+v", i, got[i], runs[i])
		}
	}
	sum := HistorySummary(got, 10*time.Second)
	for _, want := range []string{"seen by watching, 4 runs", "3 converged", "800ms after the last fault at the least", "2.935s at the median", "12s at the most", "2 of 4 within 10s"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q does not say %q", sum, want)
		}
	}
	if strings.Contains(sum, "polling") {
		t.Errorf("summary %q speaks of polled runs; there are none", sum)
	}
	if s := HistorySummary(nil, time.Second); s != "no runs recorded" {
		t.Errorf("empty history: %q", s)
	}
}

func TestReadHistoryBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.tsv")
	if err := AppendHistory(path, RunRecord{Date: time.Unix(0, 0).UTC()}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("not\ta record\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHistory(path); err == nil || !strings.Contains(err.Error(), "runs.tsv:3") {
		t.Errorf("err = %v, want it to name line 3", err)
	}
}

// TestHistoryPolledRuns reads a history begun before the measure was
// recorded: its 7-field lines are polled runs, summarised apart from the
// watched ones, as are the runs of each other measure, known or not.
func TestHistoryPolledRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.tsv")
	old := "# date\tcommit\tseed\tconverged\tdeployer_s\twhole_s\tlast_fault\n" +
		"2026-12-02T01:15:32Z\t26ec6a1\t1\ttrue\t10.121\t10.121\tkill -9 the leader release-manager\n" +
		"2026-12-02T05:19:53Z\t73e992f\t2\ttrue\t35.144\t35.145\tpause the leader resource-monitor\n" +
		"2026-12-02T07:57:27Z\td12a3e2\t4\ttrue\t15.014\t15.014\tkill -9 the leader resource-monitor\twatch-v1\n" +
		"2026-12-02T07:58:27Z\td12a3e2\t5\ttrue\t1\t1\tkill -9 the leader resource-monitor\tsomething new\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := AppendHistory(path, RecordOf(time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC), "new", &ChaosResult{Seed: 3, DeployerConvergeTook: 900 * time.Millisecond})); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Measure != MeasurePoll || got[1].Measure != MeasurePoll || got[2].Measure != MeasureWatchV1 || got[4].Measure != MeasureWatch {
		t.Fatalf("read %+v", got)
	}
	sum := HistorySummary(got, 10*time.Second)
	for _, want := range []string{"seen by watching, 1 runs", "1 of 1 within 10s", "seen by polling (before the check watched), 2 runs", "35.144s at the most", "0 of 2 within 10s",
		"before the fix), 1 runs", "15.014s at the most", "seen in other ways, 1 runs"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q does not say %q", sum, want)
		}
	}
	if strings.Index(sum, "watching") > strings.Index(sum, "polling") {
		t.Errorf("summary %q: the watched runs come first", sum)
	}
}
