package benchreport

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Benchmarks of issue 14: the rest of a deployment's life, what a script
// waits for, memory at scale.
const (
	benchUpgrade   = "UpgradeN"
	benchUninstall = "UninstallN"
	benchWait      = "ScriptWait"
	benchRMMemory  = "MemoryInSync"
	benchPodMemory = "PodMemory"
	benchNADMemory = "NADMemory"
)

// Step is one step of a release's life measured for throughput.
type Step struct {
	Bench string
	// Verb is the helm CLI command of the loop it is compared with.
	Verb string
	// Label says what is timed, for tables and plot titles.
	Label string
	// FloorWrites says what the floor writes per release.
	FloorWrites string
	// SVG is the plot file.
	SVG string
}

// Steps are the life-cycle steps, in the order of a deployment's life.
var Steps = []Step{
	{benchInstall, "install", "N entries in one etcd txn → N releases deployed", "release Secret created then updated, ConfigMap and Pod created", ThroughputSVG},
	{benchUpgrade, "upgrade", "N entries' values changed in one etcd txn → every release at revision 2, deployed", "new release Secret created, Pod patched, old Secret marked superseded, new one deployed", UpgradeSVG},
	{benchUninstall, "uninstall", "N entries deleted in one etcd txn → every release gone and its state entry removed", "release Secret marked uninstalling, ConfigMap and Pod deleted, Secret deleted", UninstallSVG},
}

// Plot files of issue 14.
const (
	UpgradeSVG   = "upgrade.svg"
	UninstallSVG = "uninstall.svg"
	MemorySVG    = "memory.svg"
)

// StepRate is the throughput of one method at one N of a step.
func (rs *Results) StepRate(bench, method string, n int) (Summary, bool) {
	return rs.Summarize(fmt.Sprintf("%s/%s/N=%d", bench, method, n), "releases/s")
}

// StepSizes lists the N at which a method was measured for a step.
func (rs *Results) StepSizes(bench, method string) []int {
	var ns []int
	prefix := bench + "/" + method + "/N="
	for _, name := range rs.Names() {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			if n, err := strconv.Atoi(rest); err == nil {
				ns = append(ns, n)
			}
		}
	}
	slices.Sort(ns)
	return ns
}

// stepCLIRate is the CLI loop's rate of a step to compare with at n: its
// own at n, else at the largest size measured.
func (rs *Results) stepCLIRate(bench string, n int) (s Summary, at int, ok bool) {
	if s, ok := rs.StepRate(bench, methodCLI, n); ok {
		return s, n, true
	}
	sizes := rs.StepSizes(bench, methodCLI)
	if len(sizes) == 0 {
		return Summary{}, 0, false
	}
	at = sizes[len(sizes)-1]
	s, ok = rs.StepRate(bench, methodCLI, at)
	return s, at, ok
}

// lifecycleTargets are issue 14's throughput targets: upgrade and
// uninstall ≥ 20× their CLI loop and ≤ 2× their floor, and the install
// ≤ 1.6× its floor.
func lifecycleTargets(rs *Results) []Target {
	var ts []Target
	for _, st := range Steps[1:] {
		for _, n := range []int{60, 500} {
			ts = append(ts, stepCLIRatio(rs, st, n), stepFloorRatio(rs, st, n, 2))
		}
	}
	for _, n := range []int{60, 500} {
		ts = append(ts, stepFloorRatio(rs, Steps[0], n, 1.6))
	}
	return ts
}

func stepCLIRatio(rs *Results, st Step, n int) Target {
	t := Target{Issue: 14, Service: "release-manager", What: fmt.Sprintf("%s, N = %d: rate ÷ sequential `helm %s` CLI loop", st.Verb, n, st.Verb),
		Goal: "≥ 20×", Status: NoData}
	sdk, ok1 := rs.StepRate(st.Bench, methodSDK, n)
	cli, at, ok2 := rs.stepCLIRate(st.Bench, n)
	if !ok1 || !ok2 {
		return t
	}
	ratio := sdk.Median / cli.Median
	note := ""
	if at != n {
		note = fmt.Sprintf(" at N = %d", at)
	}
	t.Reached = fmt.Sprintf("**%s×** (%s releases/s ÷ CLI %s/s%s; medians)", Num(ratio), Num(sdk.Median), Num(cli.Median), note)
	t.Status = verdict(ratio >= 20)
	if t.Status == Missed {
		floor, ok := rs.StepRate(st.Bench, methodFloor, n)
		switch {
		case ok && floor.Median/cli.Median < 20:
			t.Limit = fmt.Sprintf("The machine: even the client-go floor, the same objects written directly, reached only %s releases/s, %s× the CLI; "+
				"the helm CLI's own cost per release (a process start, discovery) is what the ratio divides by.", Num(floor.Median), Num(floor.Median/cli.Median))
		case ok:
			t.Limit = fmt.Sprintf("The release-manager's own rate (%s releases/s) against a floor of %s: see the floor target of this step and the API calls per release.",
				sdk, Num(floor.Median)) + spread(sdk, sdk.Max/cli.Median, "the best run ÷ the CLI")
		default:
			t.Limit = "The floor of this step did not run, so the figures do not say."
		}
	}
	return t
}

func stepFloorRatio(rs *Results, st Step, n int, goal float64) Target {
	what := fmt.Sprintf("%s, N = %d: client-go floor rate ÷ rate", st.Verb, n)
	if st.Bench == benchInstall {
		what = fmt.Sprintf("N = %d installs: client-go floor rate ÷ rate (issue 14's goal, tighter than issue 4's)", n)
	}
	t := Target{Issue: 14, Service: "release-manager", What: what,
		Goal: "≤ " + Num(goal) + "×", Status: NoData}
	sdk, ok1 := rs.StepRate(st.Bench, methodSDK, n)
	floor, ok2 := rs.StepRate(st.Bench, methodFloor, n)
	if !ok1 || !ok2 {
		return t
	}
	ratio := floor.Median / sdk.Median
	t.Reached = fmt.Sprintf("**%s×** (floor %s ÷ sdk %s releases/s; medians, ranges %s and %s)", Num(ratio), Num(floor.Median), Num(sdk.Median), floor, sdk)
	t.Status = verdict(ratio <= goal)
	if t.Status == Missed {
		t.Limit = "Per release Helm makes " + callsNote(rs, st.Bench, n) + "; and it renders, validates and records the release in the service, on the cores " +
			"the API server needs." + spread(sdk, floor.Median/sdk.Max, "the floor ÷ the best run")
	}
	return t
}

// callsNote sets the API calls per release of the release-manager beside
// the floor's, when counted.
func callsNote(rs *Results, bench string, n int) string {
	sdk, ok1 := rs.Summarize(fmt.Sprintf("%s/%s/N=%d", bench, methodSDK, n), "api-calls/rel")
	floor, ok2 := rs.Summarize(fmt.Sprintf("%s/%s/N=%d", bench, methodFloor, n), "api-calls/rel")
	if !ok1 || !ok2 {
		return "more API calls than the floor (not counted in this run)"
	}
	var extra []string
	for _, v := range apiVerbs {
		s, _ := rs.Summarize(fmt.Sprintf("%s/%s/N=%d", bench, methodSDK, n), v+"-calls/rel")
		f, _ := rs.Summarize(fmt.Sprintf("%s/%s/N=%d", bench, methodFloor, n), v+"-calls/rel")
		if d := s.Median - f.Median; d >= 0.05 {
			extra = append(extra, fmt.Sprintf("%s %s", Num(d), v))
		}
	}
	text := fmt.Sprintf("%s API calls against the floor's %s", Num(sdk.Median), Num(floor.Median))
	if len(extra) > 0 {
		text += " (more: " + strings.Join(extra, ", ") + ")"
	}
	return text
}

var apiVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "discovery"}

// waitTargets: one entry into an idle deployer, p99 to deployed ≤ 250 ms;
// a burst of 60, the last deployed ≤ 1 s; and, reported, the pods.
func waitTargets(rs *Results) []Target {
	one := Target{Issue: 14, Service: "release-manager", What: "one entry written into an idle deployer → state entry `deployed`, p99", Goal: "≤ 250 ms", Status: NoData}
	burst := Target{Issue: 14, Service: "release-manager", What: "burst of 60 entries in one txn → the last state entry `deployed`", Goal: "≤ 1 s", Status: NoData}
	pods := Target{Issue: 14, Service: "release-manager + pod-monitor", What: "entry → every pod `RUNNING` in its state entry (kwok moves the pods)", Goal: "none set: reported", Status: NoData}
	if p99, ok := rs.Summarize(benchWait, "deployed-p99-ms"); ok {
		p50, _ := rs.Summarize(benchWait, "deployed-p50-ms")
		singles, _ := rs.Summarize(benchWait, "singles")
		one.Reached = fmt.Sprintf("%s ms (p50 %s ms; %s entries one after another per run, %s)", p99, p50, Num(singles.Max), runs(p99.N))
		one.Status = verdict(p99.Max <= 250)
		one.Limit = "From the write to the state entry: the entry's watch event, one reconcile (chart from the cache, render, validate), " +
			"Helm's install (its API calls in the API calls table), the release index's event and the state write; the 2 cores also run the " +
			"API server, both etcds and the pod-monitor (load average in Machine)."
	}
	if last, ok := rs.Summarize(benchWait, "burst-max-deployed-ms"); ok {
		med, _ := rs.Summarize(benchWait, "burst-last-deployed-ms")
		burst.Reached = fmt.Sprintf("%s s worst burst (median of bursts %s s)", Num(last.Max/1000), Num(med.Median/1000))
		if cli, _, ok := rs.stepCLIRate(benchInstall, 60); ok && cli.Median > 0 {
			burst.Reached += fmt.Sprintf("; the `helm install` CLI loop takes %s s for 60", Num(60/cli.Median))
		}
		burst.Status = verdict(last.Max <= 1000)
		burst.Limit = "60 installs in parallel on 2 cores: see the install throughput at N = 60, whose rate bounds the burst (60 ÷ rate)."
	}
	if p99, ok := rs.Summarize(benchWait, "running-p99-ms"); ok {
		p50, _ := rs.Summarize(benchWait, "running-p50-ms")
		pods.Reached = fmt.Sprintf("one entry: p50 %s ms, p99 %s ms", p50, p99)
		if last, ok := rs.Summarize(benchWait, "burst-max-running-ms"); ok {
			pods.Reached += fmt.Sprintf("; burst of 60, the last: %s s worst", Num(last.Max/1000))
		}
		pods.Status = Reported
	}
	return []Target{one, burst, pods}
}

// memoryTargets: the release-manager at 1,000 and 5,000 deployments, the
// pod-monitor at 20,000 pods; the resource-monitor at 2,000 NADs reported.
func memoryTargets(rs *Results) []Target {
	var ts []Target
	for _, g := range []struct {
		n    int
		goal float64
	}{{1000, 80}, {5000, 128}} {
		t := Target{Issue: 14, Service: "release-manager", What: fmt.Sprintf("steady RSS with %s deployments in sync (built binary, restarted)", thousands(g.n)),
			Goal: fmt.Sprintf("≤ %s MiB", Num(g.goal)), Status: NoData}
		name := fmt.Sprintf("%s/deployments=%d", benchRMMemory, g.n)
		if s, ok := rs.Summarize(name, "rss-MiB"); ok {
			t.Reached = s.String() + " MiB"
			if peak, ok := rs.Summarize(name, "peak-rss-MiB"); ok {
				t.Reached += "; peak " + peak.String() + " MiB"
			}
			if ip, ok := rs.Summarize(name, "install-peak-rss-MiB"); ok {
				t.Reached += "; peak while installing " + ip.String() + " MiB"
			}
			t.Status = verdict(s.Max <= g.goal)
			t.Limit = memoryLimit(rs, name)
		}
		ts = append(ts, t)
	}
	pm := Target{Issue: 14, Service: "pod-monitor", What: "steady RSS with 20,000 pods", Goal: "≤ 96 MiB", Status: NoData}
	if s, ok := rs.Summarize(benchPodMemory, "RSS-MiB"); ok {
		pods, _ := rs.Summarize(benchPodMemory, "pods")
		pm.What = fmt.Sprintf("steady RSS with %s pods", thousands(int(pods.Max)))
		pm.Reached = s.String() + " MiB"
		if peak, ok := rs.Summarize(benchPodMemory, "peak-RSS-MiB"); ok {
			pm.Reached += "; peak " + peak.String() + " MiB"
		}
		pm.Status = verdict(s.Max <= 96)
		if pods.Max < 20000 {
			// A smaller run says nothing about the target's size.
			pm.Status, pm.Goal = Reported, "≤ 96 MiB at 20,000 pods: not this size, reported"
		}
		if anon, ok := rs.Summarize(benchPodMemory, "anon-RSS-MiB"); ok {
			pm.Limit = fmt.Sprintf("Of the resident set, %s MiB is anonymous memory (the pod cache, the heap); the rest is the executable's own pages.", anon)
		}
	}
	nad := Target{Issue: 14, Service: "resource-monitor", What: "steady RSS with 2,000 NADs", Goal: "none set: reported", Status: NoData}
	if s, ok := rs.Summarize(benchNADMemory, "RSS-MiB"); ok {
		n, _ := rs.Summarize(benchNADMemory, "nads")
		nad.What = fmt.Sprintf("steady RSS with %s NADs", thousands(int(n.Max)))
		nad.Reached = s.String() + " MiB"
		if peak, ok := rs.Summarize(benchNADMemory, "peak-RSS-MiB"); ok {
			nad.Reached += "; peak " + peak.String() + " MiB"
		}
		nad.Status = Reported
	}
	return append(ts, pm, nad)
}

func memoryLimit(rs *Results, name string) string {
	anon, ok1 := rs.Summarize(name, "anon-rss-MiB")
	file, ok2 := rs.Summarize(name, "file-rss-MiB")
	if !ok1 || !ok2 {
		return "The run did not split the resident set."
	}
	text := fmt.Sprintf("Of the resident set, %s MiB are pages of the executable itself (file-backed: about all of its code and read-only "+
		"data, which the Helm SDK, client-go and the Kubernetes API types make large; the kernel maps them in around the pages "+
		"start-up touches), the same at every size; %s MiB is anonymous memory", file, anon)
	if heap, ok := rs.Summarize(name, "heap-inuse-MiB"); ok {
		text += fmt.Sprintf(", of which the Go heap in use is %s MiB", heap)
	}
	if zero, ok := rs.Summarize(benchRMMemory+"/deployments=0", "anon-rss-MiB"); ok {
		text += fmt.Sprintf(" (%s MiB with no deployment)", zero)
	}
	return text + ". The heap profile summary is in heap-release-manager-after.txt."
}

// thousands writes 5000 as 5,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if len(s) <= 3 {
		return s
	}
	return thousands(n/1000) + "," + s[len(s)-3:]
}

// memorySizes lists the deployments held at which the release-manager's
// memory was measured.
func (rs *Results) memorySizes() []int {
	var ns []int
	for _, name := range rs.Names() {
		if rest, ok := strings.CutPrefix(name, benchRMMemory+"/deployments="); ok {
			if n, err := strconv.Atoi(rest); err == nil {
				ns = append(ns, n)
			}
		}
	}
	slices.Sort(ns)
	return ns
}

type stepTable struct {
	Step Step
	Rows []installRow
	CLIN string
}

func stepTables(rs *Results) []stepTable {
	var out []stepTable
	for _, st := range Steps[1:] {
		var rows []installRow
		for _, n := range rs.StepSizes(st.Bench, methodSDK) {
			row := installRow{N: n, CLI: "—", CLIRatio: "—", FloorRatio: "—", Floor: "—"}
			sdk, _ := rs.StepRate(st.Bench, methodSDK, n)
			row.SDK = sdk.String()
			if floor, ok := rs.StepRate(st.Bench, methodFloor, n); ok {
				row.Floor = floor.String()
				row.FloorRatio = Num(floor.Median/sdk.Median) + "×"
			}
			if cli, at, ok := rs.stepCLIRate(st.Bench, n); ok {
				row.CLI = cli.String()
				if at != n {
					row.CLI += fmt.Sprintf(" (at N = %d)", at)
				}
				row.CLIRatio = Num(sdk.Median/cli.Median) + "×"
			}
			rows = append(rows, row)
		}
		out = append(out, stepTable{Step: st, Rows: rows})
	}
	return out
}

type callsRow struct {
	Step, Method string
	N            int
	Total        string
	Verbs        []string
}

// callsRows are the API calls per release by verb, the release-manager's
// beside the floor's, for each step and N.
func callsRows(rs *Results) []callsRow {
	var rows []callsRow
	for _, st := range Steps {
		for _, n := range rs.StepSizes(st.Bench, methodSDK) {
			for _, m := range []string{methodSDK, methodFloor} {
				name := fmt.Sprintf("%s/%s/N=%d", st.Bench, m, n)
				total, ok := rs.Summarize(name, "api-calls/rel")
				if !ok {
					continue
				}
				row := callsRow{Step: st.Verb, Method: m, N: n, Total: Num(total.Median)}
				for _, v := range apiVerbs {
					s, _ := rs.Summarize(name, v+"-calls/rel")
					row.Verbs = append(row.Verbs, Num(s.Median))
				}
				rows = append(rows, row)
			}
		}
	}
	return rows
}

type memoryRow struct {
	What                                          string
	RSS, Peak, InstallPeak, Anon, File, HeapInuse string
}

func memoryRows(rs *Results) []memoryRow {
	get := func(name, unit string) string {
		if s, ok := rs.Summarize(name, unit); ok {
			return s.String()
		}
		return "—"
	}
	var rows []memoryRow
	for _, n := range rs.memorySizes() {
		name := fmt.Sprintf("%s/deployments=%d", benchRMMemory, n)
		rows = append(rows, memoryRow{What: "release-manager, " + thousands(n) + " deployments in sync", RSS: get(name, "rss-MiB"), Peak: get(name, "peak-rss-MiB"),
			InstallPeak: get(name, "install-peak-rss-MiB"), Anon: get(name, "anon-rss-MiB"), File: get(name, "file-rss-MiB"), HeapInuse: get(name, "heap-inuse-MiB")})
	}
	if _, ok := rs.Summarize(benchPodMemory, "RSS-MiB"); ok {
		pods, _ := rs.Summarize(benchPodMemory, "pods")
		rows = append(rows, memoryRow{What: "pod-monitor, " + thousands(int(pods.Max)) + " pods", RSS: get(benchPodMemory, "RSS-MiB"), Peak: get(benchPodMemory, "peak-RSS-MiB"),
			InstallPeak: "—", Anon: get(benchPodMemory, "anon-RSS-MiB"), File: "—", HeapInuse: "—"})
	}
	if _, ok := rs.Summarize(benchNADMemory, "RSS-MiB"); ok {
		n, _ := rs.Summarize(benchNADMemory, "nads")
		rows = append(rows, memoryRow{What: "resource-monitor, " + thousands(int(n.Max)) + " NADs", RSS: get(benchNADMemory, "RSS-MiB"), Peak: get(benchNADMemory, "peak-RSS-MiB"),
			InstallPeak: "—", Anon: "—", File: "—", HeapInuse: "—"})
	}
	return rows
}
