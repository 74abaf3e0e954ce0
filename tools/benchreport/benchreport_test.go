package benchreport

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    map[string][]Run
		cpu     string
		wantErr bool
	}{
		{
			name:  "GOMAXPROCS suffix dropped, sub-benchmark parts kept",
			input: "cpu: X\nBenchmarkInstallN/sdk/N=60-2  1  162.0 releases/s\nBenchmarkInstallN/sdk/N=60-2  1  128.5 releases/s\n",
			want:  map[string][]Run{"InstallN/sdk/N=60": {{"releases/s": 162}, {"releases/s": 128.5}}},
			cpu:   "X",
		},
		{
			name:  "ns/op kept in the unit printed, custom units as they are",
			input: "BenchmarkPodStatusToState-2  300  7239781 ns/op  46.37 RSS-MiB  0 writes/100-noop-updates\n",
			want:  map[string][]Run{"PodStatusToState": {{"ns/op": 7239781, "RSS-MiB": 46.37, "writes/100-noop-updates": 0}}},
		},
		{
			name: "log lines, PASS and ok lines skipped",
			input: "BenchmarkIdle-2  1  0.5 pod-monitor-cpu-s/min\n    bench_test.go:150: 1000 deployments deployed\n" +
				"--- BENCH: BenchmarkIdle-2\nPASS\nok  \tgithub.com/x/y\t80.1s\n",
			want: map[string][]Run{"Idle": {{"pod-monitor-cpu-s/min": 0.5}}},
		},
		{
			name:  "no GOMAXPROCS suffix",
			input: "BenchmarkRestartInSync  3  0.25 ready-s\n",
			want:  map[string][]Run{"RestartInSync": {{"ready-s": 0.25}}},
		},
		{
			name:    "a result line that does not parse",
			input:   "BenchmarkX-2  1  abc releases/s\n",
			wantErr: true,
		},
		{
			name:    "a value without its unit",
			input:   "BenchmarkX-2  1  12\n",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := NewResults()
			err := rs.Read(strings.NewReader(tt.input), "fixture.txt")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got := rs.Names(); !slices.Equal(got, slices.Sorted(maps.Keys(tt.want))) {
				t.Fatalf("names %v, want %v", got, slices.Sorted(maps.Keys(tt.want)))
			}
			for name, runs := range tt.want {
				got := rs.Runs(name)
				if len(got) != len(runs) {
					t.Fatalf("%s: %d runs, want %d", name, len(got), len(runs))
				}
				for i := range runs {
					if !maps.Equal(got[i], runs[i]) {
						t.Errorf("%s run %d = %v, want %v", name, i, got[i], runs[i])
					}
				}
			}
			if rs.CPU != tt.cpu {
				t.Errorf("cpu %q, want %q", rs.CPU, tt.cpu)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	rs := NewResults()
	input := "BenchmarkA-2 1 3 x\nBenchmarkA-2 1 1 x\nBenchmarkA-2 1 2 x\nBenchmarkB-2 1 4 x\nBenchmarkB-2 1 1 x\nBenchmarkB-2 1 2 y\nBenchmarkB-2 1 3 x 9 y\n"
	if err := rs.Read(strings.NewReader(input), "f"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, unit string
		want       Summary
		ok         bool
		str        string
	}{
		{"A", "x", Summary{N: 3, Median: 2, Min: 1, Max: 3}, true, "2 (1–3)"},
		{"B", "x", Summary{N: 3, Median: 3, Min: 1, Max: 4}, true, "3 (1–4)"},
		{"B", "y", Summary{N: 2, Median: 5.5, Min: 2, Max: 9}, true, "5.5 (2–9)"},
		{"B", "z", Summary{}, false, ""},
		{"C", "x", Summary{}, false, ""},
	}
	for _, tt := range tests {
		s, ok := rs.Summarize(tt.name, tt.unit)
		if ok != tt.ok || s.N != tt.want.N || s.Median != tt.want.Median || s.Min != tt.want.Min || s.Max != tt.want.Max {
			t.Errorf("%s %s: %+v %v, want %+v %v", tt.name, tt.unit, s, ok, tt.want, tt.ok)
		}
		if ok && s.String() != tt.str {
			t.Errorf("%s %s: %q, want %q", tt.name, tt.unit, s.String(), tt.str)
		}
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 162.04: "162", 1000: "1000", 23.857: "23.9", 20: "20", 1.99: "1.99",
		2: "2", 0.2632: "0.263", 0.004753: "0.00475", -3.5: "-3.5"} {
		if got := Num(v); got != want {
			t.Errorf("Num(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestReadMachine(t *testing.T) {
	m, err := ReadMachine("testdata/proc", "1.5 2.5 3.5 2/300 999\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Machine{CPUModel: "Fixture EPYC 7B13", Cores: 2, Kernel: "6.18.44-fixture", LoadStart: "1.5 2.5 3.5", LoadEnd: "0.52 0.61 1.10"}
	if m.CPUModel != want.CPUModel || m.LoadStart != want.LoadStart || m.Cores != want.Cores || m.Kernel != want.Kernel || m.LoadEnd != want.LoadEnd || m.GoVersion == "" {
		t.Errorf("machine %+v, want %+v", m, want)
	}
	if m.MemGiB < 23.4 || m.MemGiB > 23.5 {
		t.Errorf("memory %.3f GiB, want 24591300 kB = 23.45 GiB", m.MemGiB)
	}
	if got := LoadAverage([]byte("1.5 2.5 3.5 2/300 999\n")); got != "1.5 2.5 3.5" {
		t.Errorf("LoadAverage = %q", got)
	}
	if _, err := ReadMachine(t.TempDir(), ""); err == nil {
		t.Error("no error without a proc file system")
	}
	if _, err := parseMemTotal([]byte("MemFree: 1 kB\n")); err == nil {
		t.Error("no error without MemTotal")
	}
}

func TestReadLoadLog(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          []LoadMark
		wantErr       bool
	}{
		{"two steps", "bench-idle 04:20:01 1.5 2.5 3.5\nend 04:22:00 0.5 1.0 2.0\n",
			[]LoadMark{{"bench-idle", "04:20:01", "1.5 2.5 3.5"}, {"end", "04:22:00", "0.5 1.0 2.0"}}, false},
		{"blank lines", "\nbench-idle 04:20:01 1.5 2.5 3.5\n\n", []LoadMark{{"bench-idle", "04:20:01", "1.5 2.5 3.5"}}, false},
		{"short line", "bench-idle 04:20:01 1.5\n", nil, true},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadLoadLog(path)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v %v, want %v (error %v)", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
	if got, err := ReadLoadLog(filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Errorf("missing file: %v %v, want nothing", got, err)
	}
}

func fixture(t *testing.T) *Results {
	t.Helper()
	inputs, rs, err := ReadInputs("testdata/results")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		if !in.Read {
			t.Fatalf("fixture %s not read", in.File)
		}
	}
	return rs
}

// withRun adds result lines to the fixture, as another run would.
func withRun(t *testing.T, rs *Results, lines string) *Results {
	t.Helper()
	if err := rs.Read(strings.NewReader(lines), "extra"); err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestTargets(t *testing.T) {
	type want struct {
		status  Status
		reached string // a part of Reached
		limit   string // a part of Limit, when missed
	}
	tests := []struct {
		name    string
		results func(t *testing.T) *Results
		want    map[string]want // by a part of What
	}{
		{
			name:    "fixture",
			results: fixture,
			want: map[string]want{
				"N = 60 entries":         {Met, "**22.9×** (160 releases/s ÷ CLI 7/s; medians)", ""},
				"N = 500 entries":        {Met, "**27.1×** (190 releases/s ÷ CLI 7/s at N = 60", ""},
				"N = 60: cost":           {Met, "**2×** (floor 320 ÷ sdk 160", ""},
				"N = 500: cost":          {Met, "**1.63×**", ""},
				"pod status change":      {Missed, "12 (10–30) ms (2 of 3 runs within)", "API server's own write, whose p99 alone was 6 (5–20) ms"},
				"real status change":     {Met, "1; bursts 0.31", ""},
				"nothing changed":        {Met, "0 idle; 0 after no-op updates (max of 3 runs)", ""},
				"steady RSS (at":         {Met, "47 (46–48) MiB", ""},
				"NAD change":             {Met, "11 (9–12) ms (3 of 3 runs within)", ""},
				"while idle (10 s":       {Met, "0 (max of 3 runs)", ""},
				"/readyz ready":          {Met, "0.25 s worst of 3 restarts (mean 0.2 s)", ""},
				"Helm actions":           {Met, "0 per restart (3 restarts)", ""},
				"config DB writes per m": {Met, "0/min", ""},
				"CPU while idle":         {Reported, "release-manager 0.02, pod-monitor 0.01, resource-monitor 0.06", ""},
				// Issue 21: one of the two runs made a revision and one
				// reported a change after 1.2 s: both missed.
				"deleted (Deployment":    {Missed, "72.5 (70–75) ms (p50 42.5 (40–45) ms; 100 releases, 2 runs); 1 new revisions", "one create"},
				"changed by hand (warn)": {Missed, "800 (400–1200) ms", "the state entry's write"},
				"a pod's reason changed": {Met, "12 ms (p50 7.5 ms; 1 run); 0 writes", ""},
				// Issue 14: upgrade 45 ÷ CLI 2.5 = 18×; uninstall 64 ÷ 5 = 12.8×.
				"upgrade, N = 60: rate":        {Missed, "**18×** (45 releases/s ÷ CLI 2.5/s; medians)", "floor target of this step"},
				"upgrade, N = 500: rate":       {Met, "**26×** (65 releases/s ÷ CLI 2.5/s at N = 60", ""},
				"upgrade, N = 60: client-go":   {Missed, "**2.22×** (floor 100 ÷ sdk 45", "12 API calls against the floor's 4 (more: 5 get, 3 list)"},
				"upgrade, N = 500: client-go":  {Met, "**1.69×**", ""},
				"uninstall, N = 60: rate":      {Missed, "**12.8×**", "The machine: even the client-go floor"},
				"uninstall, N = 60: client-go": {Met, "**1.09×**", ""},
				"N = 60 installs":              {Missed, "**2×**", "not counted in this run"},
				"N = 500 installs":             {Missed, "**1.63×**", ""},
				"idle deployer":                {Met, "120 ms (p50 70 ms; 50 entries", ""},
				"burst of 60 entries":          {Met, "0.95 s worst burst (median of bursts 0.8 s); the `helm install` CLI loop takes 8.57 s for 60", ""},
				"every pod `RUNNING`":          {Reported, "one entry: p50 75 ms, p99 130 ms; burst of 60, the last: 1.1 s worst", ""},
				"with 1,000 deployments":       {Missed, "85 MiB; peak 88 MiB; peak while installing 210 MiB", "65 MiB are pages of the executable"},
				"with 5,000 deployments":       {Met, "116 MiB", ""},
				"with 20,000 pods":             {Met, "70 MiB; peak 90 MiB", ""},
				"with 2,000 NADs":              {Reported, "50 MiB; peak 60 MiB", ""},
			},
		},
		{
			name: "misses",
			results: func(t *testing.T) *Results {
				// sdk at N = 500: 50 60 70 80 180 190 200, median 80.
				return withRun(t, fixture(t), "BenchmarkInstallN/sdk/N=500-2 1 50 releases/s\nBenchmarkInstallN/sdk/N=500-2 1 60 releases/s\n"+
					"BenchmarkInstallN/sdk/N=500-2 1 70 releases/s\nBenchmarkInstallN/sdk/N=500-2 1 80 releases/s\n"+
					"BenchmarkRestartInSync-2 3 6.5 max-ready-s 4 ready-s 2 helm-actions/restart 1000 deployments\n"+
					"BenchmarkIdle-2 1 3 configdb-writes/min\n"+
					"BenchmarkPodStatusToState-2 300 2 writes/change 70 RSS-MiB 1 idle-writes/5s\n")
			},
			want: map[string]want{
				"N = 500 entries":        {Missed, "**11.4×**", "client-go floor"},
				"N = 500: cost":          {Missed, "", "conflict GET"},
				"/readyz ready":          {Missed, "6.5 s worst", "release index lists 1000 release Secrets"},
				"Helm actions":           {Missed, "2 per restart", "Not a limit of the machine"},
				"config DB writes per m": {Missed, "3/min", "Not a limit of the machine"},
				"real status change":     {Missed, "", "Not a limit"},
				"steady RSS (at":         {Missed, "(46–70) MiB", "executable's own pages"},
				"nothing changed":        {Missed, "1 idle", "Not a limit"},
			},
		},
		{
			name: "bound by the machine",
			results: func(t *testing.T) *Results {
				return withRun(t, NewResults(), "BenchmarkInstallN/sdk/N=60-2 1 100 releases/s\nBenchmarkInstallN/client-go-floor/N=60-2 1 110 releases/s\n"+
					"BenchmarkInstallN/helm-cli-loop/N=60-2 1 10 releases/s\n")
			},
			want: map[string]want{"N = 60 entries": {Missed, "**10×**", "The machine: "}, "N = 60: cost": {Met, "**1.1×**", ""}},
		},
		{
			name:    "nothing ran",
			results: func(*testing.T) *Results { return NewResults() },
			want: map[string]want{
				"N = 60 entries": {NoData, "", ""}, "N = 500: cost": {NoData, "", ""}, "pod status change": {NoData, "", ""},
				"NAD change": {NoData, "", ""}, "/readyz ready": {NoData, "", ""}, "Helm actions": {NoData, "", ""},
				"config DB writes per m": {NoData, "", ""}, "steady RSS (at": {NoData, "", ""}, "CPU while idle": {NoData, "", ""},
				"upgrade, N = 60: rate": {NoData, "", ""}, "idle deployer": {NoData, "", ""}, "with 1,000 deployments": {NoData, "", ""},
				"with 20,000 pods": {NoData, "", ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := Targets(tt.results(t))
			if len(ts) != 34 {
				t.Errorf("%d targets, want 33 (4 of issue 4, 4 of issue 5, 2 of issue 6, 4 of issue 8, 17 of issue 14, 2 of issue 21)", len(ts))
			}
			for key, w := range tt.want {
				var found []Target
				for _, tg := range ts {
					if strings.Contains(tg.What, key) {
						found = append(found, tg)
					}
				}
				if len(found) != 1 {
					t.Errorf("%q matches %d targets, want 1", key, len(found))
					continue
				}
				tg := found[0]
				if tg.Status != w.status {
					t.Errorf("%s: status %s, want %s (reached %q)", tg.What, tg.Status, w.status, tg.Reached)
				}
				if !strings.Contains(tg.Reached, w.reached) {
					t.Errorf("%s: reached %q, want it to contain %q", tg.What, tg.Reached, w.reached)
				}
				if w.status == Missed && (tg.Limit == "" || !strings.Contains(tg.Limit, w.limit)) {
					t.Errorf("%s: limit %q, want it to contain %q", tg.What, tg.Limit, w.limit)
				}
			}
		})
	}
}

func TestWrite(t *testing.T) {
	inputs, rs, err := ReadInputs("testdata/results")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadMachine("testdata/proc", "0.1 0.2 0.3 1/2 3")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 27, 4, 15, 0, 0, time.UTC)
	r := &Report{Machine: m, Started: start, Finished: start.Add(14 * time.Minute), Commit: "abc1234",
		Sizes: SizesFrom(func(k string) (string, bool) {
			return map[string]string{"SDP_BENCH_PODS": "500"}[k], k == "SDP_BENCH_PODS"
		}),
		Inputs: inputs, Results: rs, Dir: "benchmarks", Load: []LoadMark{{"bench-idle", "04:27:00", "1.1 1.2 1.3"}}}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	for _, want := range []string{
		"2026-11-27 04:15 UTC to 2026-11-27 04:29 UTC (14 min), code at commit `abc1234`",
		"| CPU | Fixture EPYC 7B13 |",
		"| logical cores | 2 |",
		"| memory | 23.5 GiB |",
		"| load average (1, 5, 15 min) at the start | 0.1 0.2 0.3 |",
		"| load average (1, 5, 15 min) at the end | 0.52 0.61 1.10 |",
		"| bench-idle | 04:27:00 | 1.1 1.2 1.3 |",
		"21 of 34 targets met, 10 missed, 3 reported without a number to meet.",
		"| 60 | 45 (40–50) | 100 (90–110) | 2.5 (2–3) | **18×** | **2.22×** |",
		"| upgrade | 60 | sdk | **12** | 5 | 3 | 0 | 1 | 2 | 1 | 0 | 0 |",
		"| one entry → `deployed`, p99 | 120 ms |",
		"| the `helm install` CLI loop for the same 60 (60 ÷ its rate at N = 60) | 8571 ms |",
		"| release-manager, 5,000 deployments in sync | **116** | 130 | 300 | 50 | 66 | 40 |",
		"![memory](benchmarks/memory.svg)",
		"![upgrade throughput](benchmarks/upgrade.svg)",
		"| 5 | pod-monitor | pod status change → state entry, p99 | ≤ 25 ms | 12 (10–30) ms (2 of 3 runs within); p50 6 (5–7) ms | **missed** |",
		"### Where a target was missed, what limits it",
		"- **pod-monitor: pod status change → state entry, p99** (goal ≤ 25 ms). The machine:",
		"| 60 | 160 (150–170) | 320 (300–340) | 7 (6–8) | **22.9×** | **2×** |",
		"| 500 | 190 (180–200) | 310 (300–320) | 7 (6–8) (at N = 60) | **27.1×** | **1.63×** |",
		"| pod-monitor | pod status update → state entry | 3 | 6 (5–7) | **12 (10–30)** |",
		"| resource-monitor | NAD patch → resource entry | 3 | 4.7 (4.5–5.5) | **11 (9–12)** |",
		"| start → /readyz ready, worst | 0.25 s |",
		"| Helm actions per restart | 0 |",
		"| restarts measured (one result line) | 3 |",
		"| release-manager CPU | 0.02 s/min |",
		"| config DB writes, all | 0 /min |",
		"`SDP_BENCH_PODS=500`",
		"![install throughput](benchmarks/throughput.svg)",
		"![latency](benchmarks/latency.svg)",
		"- `bench-idle`: [idle.txt](benchmarks/idle.txt)",
		"[pod-monitor.md](benchmarks/pod-monitor.md)",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("document:\n%s", doc)
	}

	// With nothing measured, the document says so rather than invent.
	r.Results, r.Inputs = NewResults(), slices.Clone(Inputs)
	buf.Reset()
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0 of 34 targets met, 34 not measured in this run.", "Not run (`make bench-restart`).",
		"- `bench-pod-monitor`: not run (pod-monitor.txt missing)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("empty report lacks %q", want)
		}
	}
	if strings.Contains(buf.String(), "what limits it") {
		t.Error("empty report has a section on missed targets")
	}
}

func TestUseEndMark(t *testing.T) {
	start := time.Date(2026, 11, 27, 23, 50, 0, 0, time.UTC)
	tests := []struct {
		marks    []LoadMark
		finished time.Time
		load     string
	}{
		{[]LoadMark{{"bench-idle", "23:55:00", "1 1 1"}, {"end", "23:58:30", "2.5 2 1.5"}}, time.Date(2026, 11, 27, 23, 58, 30, 0, time.UTC), "2.5 2 1.5"},
		{[]LoadMark{{"end", "00:05:00", "3 3 3"}}, time.Date(2026, 11, 28, 0, 5, 0, 0, time.UTC), "3 3 3"},
		{[]LoadMark{{"bench-idle", "23:55:00", "1 1 1"}}, start.Add(time.Hour), "now"},
	}
	for _, tt := range tests {
		r := &Report{Started: start, Finished: start.Add(time.Hour), Machine: Machine{LoadEnd: "now"}, Load: tt.marks}
		r.UseEndMark()
		if !r.Finished.Equal(tt.finished) || r.Machine.LoadEnd != tt.load {
			t.Errorf("%v: finished %v load %q, want %v %q", tt.marks, r.Finished, r.Machine.LoadEnd, tt.finished, tt.load)
		}
	}
}

func TestPlots(t *testing.T) {
	rs := fixture(t)
	dir := t.TempDir()
	tp, err := ThroughputPlot(rs)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := LatencyPlot(rs)
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][]string{ThroughputSVG: {"<svg", "sequential helm install CLI loop", "500"}, LatencySVG: {"<svg", "target: p99"}} {
		p := tp
		if file == LatencySVG {
			p = lp
		}
		path := filepath.Join(dir, file)
		if err := SavePlot(p, path); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !bytes.Contains(data, []byte(w)) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
	if _, err := ThroughputPlot(NewResults()); err == nil {
		t.Error("throughput plot without results: no error")
	}
	if _, err := LatencyPlot(NewResults()); err == nil {
		t.Error("latency plot without results: no error")
	}
}

func TestLifecycleAndMemoryPlots(t *testing.T) {
	rs := fixture(t)
	dir := t.TempDir()
	for _, st := range Steps {
		p, err := StepPlot(rs, st)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, st.SVG)
		if err := SavePlot(p, path); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte("sequential helm "+st.Verb+" CLI loop")) {
			t.Errorf("%s lacks its CLI loop", st.SVG)
		}
	}
	mp, err := MemoryPlot(rs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, MemorySVG)
	if err := SavePlot(mp, path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"steady RSS", "5000", "targets: ≤ 80 MiB"} {
		if !bytes.Contains(data, []byte(w)) {
			t.Errorf("%s lacks %q", MemorySVG, w)
		}
	}
	if _, err := MemoryPlot(NewResults()); err == nil {
		t.Error("memory plot without results: no error")
	}
	if _, err := StepPlot(NewResults(), Steps[1]); err == nil {
		t.Error("upgrade plot without results: no error")
	}
}
