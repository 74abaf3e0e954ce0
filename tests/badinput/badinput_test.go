package badinput

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

// ReportEnv names the file the observed results are written to.
const ReportEnv = "SDP_BADINPUT_REPORT"

// The whole control plane: pods of the good deployments must reach Running
// (controller-manager, scheduler, kwok) for "nothing lost" to mean it.
func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{}.All())) }

// TestBadInput runs the catalogue: every case's message must appear where
// the user looks, no service may crash, and the good input fed alongside
// must converge.
func TestBadInput(t *testing.T) {
	all := cases()
	if len(all) < 30 {
		t.Fatalf("the catalogue has %d cases; at least 30 are wanted", len(all))
	}
	start := time.Now()
	e := startEnv(t)
	t.Logf("environment up in %s", time.Since(start).Round(time.Millisecond))

	var results []result
	for i, c := range all {
		t.Run(c.name, func(t *testing.T) {
			res := e.runCase(c, i+1)
			results = append(results, res)
			if res.err != nil {
				t.Errorf("%s (%s): %v", c.name, c.service, res.err)
				return
			}
			t.Logf("%s after %s (good %s converged after %s): %s", c.where, res.seenAfter.Round(time.Millisecond),
				c.good, res.goodAfter.Round(time.Millisecond), truncate(res.seen, 300))
		})
	}
	if err := e.alive(); err != nil {
		t.Errorf("after the catalogue: %v", err)
	}
	e.stop()
	if path := os.Getenv(ReportEnv); path != "" {
		if err := os.WriteFile(path, []byte(report(results, time.Since(start))), 0o644); err != nil {
			t.Errorf("write the report: %v", err)
		}
	}
}

// report renders the results as the Markdown of docs/bad-input.md.
func report(results []result, took time.Duration) string {
	var b strings.Builder
	failed := 0
	for _, r := range results {
		if r.err != nil {
			failed++
		}
	}
	b.WriteString("# Bad-input catalogue\n\n")
	b.WriteString("Written by `make bad-input` (the test in `tests/badinput`, with `SDP_BADINPUT_REPORT` set) from one run:\n")
	b.WriteString("the three service binaries against a real config DB etcd, the local control plane (kube-apiserver,\n")
	b.WriteString("controller-manager, scheduler, kwok) and a chart repository of `tests/badinput/testdata/charts`.\n")
	b.WriteString("Each case writes its bad input as a processing script or an operator would (raw config DB keys and\n")
	b.WriteString("JSON, pods and NetworkAttachmentDefinitions through the API server) together with a good deployment\n")
	b.WriteString("or NAD, and passes only if the message below appeared where the user looks, the good input\n")
	b.WriteString("converged (release deployed and its pod RUNNING in the state entry, or the NAD's `/resource/` entry\n")
	b.WriteString("written), and every service was still running, answering `/healthz` and had logged no panic.\n")
	b.WriteString("The last column is copied from the run, not written by hand.\n\n")
	fmt.Fprintf(&b, "Run of %s: %d cases, %d passed, %d failed; %s in all.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), len(results), len(results)-failed, failed, took.Round(time.Second))
	b.WriteString("| # | case | service | input | where the user sees it | what the user saw | note |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for i, r := range results {
		seen := r.seen
		if r.err != nil {
			seen = "**FAILED**: " + r.err.Error()
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", i+1, cell(r.c.name, 200), cell(r.c.service, 60),
			cell(r.c.input, 300), cell(r.c.where, 120), cell(seen, 700), cell(r.c.note, 400))
	}
	return b.String()
}

// cell makes text safe for one Markdown table cell.
func cell(s string, n int) string {
	s = truncate(strings.TrimSpace(s), n)
	s = strings.ReplaceAll(s, "\t", " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", "<br>")
}
