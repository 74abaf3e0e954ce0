package benchreport

import (
	_ "embed"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// Inputs are the result files `make bench` writes into docs/benchmarks/,
// one per benchmark target, in the order they run.
var Inputs = []Input{
	{File: "release-manager.txt", Target: "bench-release-manager", Doc: "release-manager.md"},
	{File: "wait.txt", Target: "bench-wait"},
	{File: "drift.txt", Target: "bench-drift"},
	{File: "pod-monitor.txt", Target: "bench-pod-monitor", Doc: "pod-monitor.md"},
	{File: "resource-monitor.txt", Target: "bench-resource-monitor", Doc: "resource-monitor.md"},
	{File: "restart.txt", Target: "bench-restart"},
	{File: "memory.txt", Target: "bench-memory"},
	{File: "idle.txt", Target: "bench-idle"},
}

// Input is one benchmark target's output file and its service's own
// document, if it has one.
type Input struct {
	File, Target, Doc string
	Read              bool
}

// Plot files, in the results directory.
const (
	ThroughputSVG = "throughput.svg"
	LatencySVG    = "latency.svg"
)

// Report is what docs/benchmarks.md is written from.
type Report struct {
	Machine Machine
	// Load is the load average at each step of the run (load.txt).
	Load []LoadMark
	// Started and Finished bound the run; Commit is the code measured.
	Started, Finished time.Time
	Commit            string
	// Sizes are the benchmark settings of the run (SDP_BENCH_*), as
	// name=value, for the method section.
	Sizes   map[string]string
	Inputs  []Input
	Results *Results
	// Dir is the results directory relative to the document (links).
	Dir string
}

// UseEndMark takes the end of the run and the load at that moment from
// the load log's "end" mark, when there is one: the report may be written
// later than the run ended.
func (r *Report) UseEndMark() {
	for _, m := range r.Load {
		if m.Step != "end" {
			continue
		}
		t, err := time.Parse("15:04:05", m.Time)
		if err != nil {
			continue
		}
		s := r.Started.UTC()
		end := time.Date(s.Year(), s.Month(), s.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
		if end.Before(s) {
			end = end.AddDate(0, 0, 1) // past midnight
		}
		r.Finished, r.Machine.LoadEnd = end, m.Load
	}
}

// ReadInputs reads every input file in dir that exists.
func ReadInputs(dir string) ([]Input, *Results, error) {
	rs := NewResults()
	inputs := make([]Input, len(Inputs))
	copy(inputs, Inputs)
	for i := range inputs {
		ok, err := rs.ReadFile(filepath.Join(dir, inputs[i].File))
		if err != nil {
			return nil, nil, err
		}
		inputs[i].Read = ok
	}
	return inputs, rs, nil
}

// DefaultSizes are the benchmarks' own defaults, for settings the run's
// environment does not give.
var DefaultSizes = map[string]string{
	"BENCH_COUNT":                      "3",
	"SDP_BENCH_N":                      "60,500",
	"SDP_BENCH_CLI_N":                  "60",
	"SDP_BENCH_PODS":                   "5000",
	"SDP_BENCH_DEPLOYMENTS":            "500",
	"SDP_BENCH_CHANGES":                "300",
	"SDP_BENCH_RESTART_DEPLOYMENTS":    "5000",
	"SDP_BENCH_WAIT_SINGLES":           "50",
	"SDP_BENCH_WAIT_BURSTS":            "3",
	"SDP_BENCH_MEMORY_DEPLOYMENTS":     "0,1000,5000",
	"SDP_BENCH_MEMORY_PODS":            "20000",
	"SDP_BENCH_MEMORY_POD_DEPLOYMENTS": "2000",
	"SDP_BENCH_MEMORY_NADS":            "2000",
	"SDP_BENCH_RESTARTS":               "3",
	"SDP_BENCH_IDLE_DEPLOYMENTS":       "1000",
	"SDP_BENCH_IDLE_NADS":              "200",
	"SDP_BENCH_IDLE":                   "60s",
}

// SizesFrom takes each setting from lookup (the environment), else its
// default.
func SizesFrom(lookup func(string) (string, bool)) map[string]string {
	out := map[string]string{}
	for k, def := range DefaultSizes {
		if v, ok := lookup(k); ok && v != "" {
			out[k] = v
		} else {
			out[k] = def
		}
	}
	return out
}

//go:embed report.md.tmpl
var docTemplate string

var tmpl = template.Must(template.New("benchmarks.md").Funcs(template.FuncMap{
	"num": Num,
	"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"minutes": func(a, b time.Time) string {
		return fmt.Sprintf("%.0f min", b.Sub(a).Minutes())
	},
	"cell": func(s string) string { return strings.ReplaceAll(s, "|", `\|`) },
}).Parse(docTemplate))

// Write writes the document.
func (r *Report) Write(w io.Writer) error {
	v := view{Report: r, Targets: Targets(r.Results)}
	v.Install = installRows(r.Results)
	v.Steps = stepTables(r.Results)
	v.Calls = callsRows(r.Results)
	v.APIVerbs = apiVerbs
	v.Memory = memoryRows(r.Results)
	v.Wait = unitRows(r.Results, benchWait, []unitRow{
		{"deployed-p50-ms", "one entry → `deployed`, p50", "ms"}, {"deployed-p99-ms", "one entry → `deployed`, p99", "ms"},
		{"running-p50-ms", "one entry → every pod `RUNNING`, p50", "ms"}, {"running-p99-ms", "one entry → every pod `RUNNING`, p99", "ms"},
		{"singles", "single entries per run", ""},
		{"burst-last-deployed-ms", "burst of 60 → the last `deployed`, median of bursts", "ms"}, {"burst-max-deployed-ms", "burst of 60 → the last `deployed`, worst burst", "ms"},
		{"burst-last-running-ms", "burst of 60 → the last with every pod `RUNNING`, median of bursts", "ms"}, {"burst-max-running-ms", "burst of 60 → the last with every pod `RUNNING`, worst burst", "ms"},
		{"bursts", "bursts per run", ""},
	})
	if cli, at, ok := r.Results.stepCLIRate(benchInstall, 60); ok && cli.Median > 0 && len(v.Wait) > 0 {
		v.Wait = append(v.Wait, figureRow{Label: fmt.Sprintf("the `helm install` CLI loop for the same 60 (60 ÷ its rate at N = %d)", at), Value: Num(60/cli.Median*1000) + " ms"})
	}
	v.Latency = latencyRows(r.Results)
	v.Restart = unitRows(r.Results, benchRestart, []unitRow{
		{"ready-s", "start → /readyz ready, mean", "s"}, {"max-ready-s", "start → /readyz ready, worst", "s"},
		{"all-seen-s", "start → every entry looked at, mean", "s"}, {"max-all-seen-s", "start → every entry looked at, worst", "s"},
		{"restarts", "restarts measured (one result line)", ""}, {"stop-s", "SIGTERM → exit of the old process", "s"}, {"helm-actions/restart", "Helm actions per restart", ""},
		{"state-writes/restart", "state entries rewritten per restart", ""}, {"reconciles/entry", "reconciles per deployment by then", ""}, {"configdb-writes/restart", "config DB writes per restart (leader election included)", ""},
	})
	v.Idle = unitRows(r.Results, benchIdle, []unitRow{
		{"release-manager-cpu-s/min", "release-manager CPU", "s/min"}, {"pod-monitor-cpu-s/min", "pod-monitor CPU", "s/min"},
		{"resource-monitor-cpu-s/min", "resource-monitor CPU", "s/min"}, {"kube-apiserver-cpu-s/min", "kube-apiserver CPU (for scale)", "s/min"},
		{"configdb-writes/min", "config DB writes, all", "/min"}, {"state-writes/min", "of which state entries", "/min"},
		{"resource-writes/min", "of which resource entries", "/min"}, {"other-writes/min", "of which other keys (leader election)", "/min"},
		{"release-manager-RSS-MiB", "release-manager RSS at the end", "MiB"}, {"pod-monitor-RSS-MiB", "pod-monitor RSS at the end", "MiB"},
		{"resource-monitor-RSS-MiB", "resource-monitor RSS at the end", "MiB"},
	})
	for _, t := range v.Targets {
		switch t.Status {
		case Met:
			v.MetCount++
		case Missed:
			v.Missed = append(v.Missed, t)
		case NoData:
			v.NoDataCount++
		case Reported:
			v.ReportedCount++
		}
	}
	if err := tmpl.Execute(w, v); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

type view struct {
	*Report
	Targets                              []Target
	Missed                               []Target
	MetCount, NoDataCount, ReportedCount int
	Install                              []installRow
	Steps                                []stepTable
	Calls                                []callsRow
	APIVerbs                             []string
	Memory                               []memoryRow
	Wait                                 []figureRow
	Latency                              []latencyRow
	Restart, Idle                        []figureRow
}

type installRow struct {
	N                    int
	SDK, Floor, CLI      string
	CLIRatio, FloorRatio string
}

func installRows(rs *Results) []installRow {
	var rows []installRow
	for _, n := range rs.InstallSizes(methodSDK) {
		row := installRow{N: n, CLI: "—", CLIRatio: "—", FloorRatio: "—", Floor: "—"}
		sdk, _ := rs.InstallRate(methodSDK, n)
		row.SDK = sdk.String()
		if floor, ok := rs.InstallRate(methodFloor, n); ok {
			row.Floor = floor.String()
			row.FloorRatio = Num(floor.Median/sdk.Median) + "×"
		}
		if cli, at, ok := rs.cliRate(n); ok {
			row.CLI = cli.String()
			if at != n {
				row.CLI += fmt.Sprintf(" (at N = %d)", at)
			}
			row.CLIRatio = Num(sdk.Median/cli.Median) + "×"
		}
		rows = append(rows, row)
	}
	return rows
}

type latencyRow struct {
	Service, Change                             string
	P50, P99, Max, APIP99, OwnP99, Writes, Runs string
}

func latencyRows(rs *Results) []latencyRow {
	var rows []latencyRow
	for _, l := range []struct{ bench, service, change, own string }{
		{benchPods, "pod-monitor", "pod status update → state entry", "monitor-p99-ms-le"},
		{benchNADs, "resource-monitor", "NAD patch → resource entry", "svc-p99-le-ms"},
	} {
		p99, ok := rs.Summarize(l.bench, "p99-ms")
		if !ok {
			continue
		}
		get := func(unit string) string {
			if s, ok := rs.Summarize(l.bench, unit); ok {
				return s.String()
			}
			return "—"
		}
		rows = append(rows, latencyRow{Service: l.service, Change: l.change, P50: get("p50-ms"), P99: p99.String(), Max: get("max-ms"),
			APIP99: get("api-p99-ms"), OwnP99: "≤ " + get(l.own), Writes: get("writes/change"), Runs: fmt.Sprint(p99.N)})
	}
	return rows
}

type unitRow struct{ unit, label, suffix string }

type figureRow struct{ Label, Value string }

func unitRows(rs *Results, bench string, want []unitRow) []figureRow {
	var rows []figureRow
	for _, u := range want {
		if s, ok := rs.Summarize(bench, u.unit); ok {
			v := s.String()
			if u.suffix != "" {
				v += " " + u.suffix
			}
			rows = append(rows, figureRow{Label: u.label, Value: v})
		}
	}
	return rows
}
