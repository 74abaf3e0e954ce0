// Command sdp-benchreport writes docs/benchmarks.md and its plots from the
// outputs of `make bench` (see tools/benchreport).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/tools/benchreport"
)

func main() {
	dir := flag.String("dir", "docs/benchmarks", "directory of the benchmark outputs (*.txt); the plots are written there")
	out := flag.String("out", "docs/benchmarks.md", "the document to write")
	started := flag.String("started", "", "start of the run, RFC 3339 (default: now)")
	loadStart := flag.String("load-start", "", "/proc/loadavg as it was at the start of the run")
	commit := flag.String("commit", "", "the commit measured")
	proc := flag.String("proc", "/proc", "proc file system to read the machine's facts from")
	flag.Parse()
	if err := run(*dir, *out, *started, *loadStart, *commit, *proc); err != nil {
		slog.Error("benchmark report", "error", err)
		os.Exit(1)
	}
}

func run(dir, out, started, loadStart, commit, proc string) error {
	start := time.Now()
	if started != "" {
		t, err := time.Parse(time.RFC3339, started)
		if err != nil {
			return fmt.Errorf("--started: %w", err)
		}
		start = t
	}
	inputs, results, err := benchreport.ReadInputs(dir)
	if err != nil {
		return err
	}
	machine, err := benchreport.ReadMachine(proc, loadStart)
	if err != nil {
		return err
	}
	if results.CPU != "" && machine.CPUModel == "" {
		machine.CPUModel = results.CPU
	}
	load, err := benchreport.ReadLoadLog(filepath.Join(dir, "load.txt"))
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(out), dir)
	if err != nil {
		return fmt.Errorf("results directory relative to the document: %w", err)
	}
	r := &benchreport.Report{Machine: machine, Load: load, Started: start, Finished: time.Now(), Commit: commit,
		Sizes: benchreport.SizesFrom(os.LookupEnv), Inputs: inputs, Results: results, Dir: filepath.ToSlash(rel)}
	r.UseEndMark()
	// A plot without data is left out, not an error: the report says
	// which benchmarks did not run.
	for _, st := range benchreport.Steps {
		if p, err := benchreport.StepPlot(results, st); err == nil {
			if err := benchreport.SavePlot(p, filepath.Join(dir, st.SVG)); err != nil {
				return err
			}
		} else {
			slog.Warn("no throughput plot", "step", st.Verb, "reason", err)
		}
	}
	if p, err := benchreport.MemoryPlot(results); err == nil {
		if err := benchreport.SavePlot(p, filepath.Join(dir, benchreport.MemorySVG)); err != nil {
			return err
		}
	} else {
		slog.Warn("no memory plot", "reason", err)
	}
	if p, err := benchreport.LatencyPlot(results); err == nil {
		if err := benchreport.SavePlot(p, filepath.Join(dir, benchreport.LatencySVG)); err != nil {
			return err
		}
	} else {
		slog.Warn("no latency plot", "reason", err)
	}
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	slog.Info("benchmark report written", "doc", out, "plots", dir)
	return nil
}
