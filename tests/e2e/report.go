package e2e

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Report is what the e2e run writes for people: where and when it ran and
// what the chaos run measured.
type Report struct {
	Date     time.Time
	Settings string
	// Timings of the happy path's steps.
	Happy []Timing
	Chaos *ChaosResult
	Opts  ChaosOptions
	// Total is the whole test's duration.
	Total time.Duration
}

// Timing is a named duration.
type Timing struct {
	What string
	Took time.Duration
}

// Machine describes the host: CPU model, cores, kernel and Go.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores%s, %s %s/%s", model, runtime.NumCPU(), kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// Markdown renders the report.
func (r Report) Markdown() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	p("# End-to-end and chaos run\n\n")
	p("Written by `make e2e` (`tests/e2e`, `SDP_E2E_REPORT=docs/e2e.md`) from the run itself; ")
	p("figures vary between runs and with what else the machine is doing.\n\n")
	p("- Date: %s\n", r.Date.UTC().Format(time.RFC3339))
	p("- Machine: %s (shared with other jobs)\n", Machine())
	p("- Service settings: %s; two replicas of each service, `--leader-elect`\n", r.Settings)
	p("- Whole test (build, control plane, happy path, chaos): %s\n\n", ms(r.Total))
	if len(r.Happy) > 0 {
		p("## Happy path\n\nFour deployments, one per entry form (`key`+`kind`, `id`+`type`, `dpl_id`+`type`, `deploy_id`+`kind`), with a dotted values key:\n\n")
		p("| step | took |\n|---|---|\n")
		for _, h := range r.Happy {
			p("| %s | %s |\n", h.What, ms(h.Took))
		}
		p("\n")
	}
	c := r.Chaos
	if c == nil {
		return b.Bytes()
	}
	p("## Chaos\n\n")
	p("- Seed: %d (repeat with `SDP_E2E_SEED=%d make e2e`)\n", c.Seed, c.Seed)
	p("- Churn: %d deployments, %d creates, %d changes, %d deletes (%d steps over %s); %d entries left at the end\n",
		c.Deployments, c.Counts.Create, c.Counts.Change, c.Counts.Delete, c.Counts.Create+c.Counts.Change+c.Counts.Delete, ms(c.ChurnTook), c.Alive)
	p("- Script writes retried while the config DB was away: %d\n", c.WriteRetries)
	p("- Faults ended %s after the first step\n", ms(c.FaultsTook))
	var parts []string
	for _, s := range Services {
		parts = append(parts, fmt.Sprintf("%s %d compacted, %d watch lost", s, c.CompactedResyncs[s], c.LostResyncs[s]))
	}
	kinds := Summarise(c.AtFaultsEnd)
	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var seen []string
	for _, k := range names {
		seen = append(seen, fmt.Sprintf("%d %s", kinds[k], k))
	}
	if len(seen) == 0 {
		seen = []string{"nothing"}
	}
	p("- When the faults ended, the check found: %s\n", strings.Join(seen, "; "))
	p("- release-manager: %d releases left pending by a crash unlocked, %d Helm actions failed and retried, %d deployments given up on (from its logs)\n", c.Unlocks, c.FailedActions, c.GaveUp)
	p("- Config DB watch resyncs logged by the services (all replicas), by reason: %s\n", strings.Join(parts, "; "))
	if len(c.Mismatches) == 0 {
		p("- **Converged %s after the last fault ended, %s after the last churn write** (bound %s): 0 missing releases, 0 orphan releases, 0 releases pending, 0 stale or orphan state entries, every pods map exact\n\n",
			ms(c.ConvergeTook), ms(c.SinceLastWrite), ms(r.Opts.Converge))
	} else {
		p("- **Did not converge** within %s: %d mismatches (first ones below)\n\n", ms(r.Opts.Converge), len(c.Mismatches))
		for i, m := range c.Mismatches {
			if i == 20 {
				break
			}
			p("  - %s\n", m)
		}
		p("\n")
	}
	p("### Failovers\n\nFrom SIGKILL of the leading replica until the other replica's `sdp_helmdeploy_leader` gauge read 1 (lease TTL 10 s):\n\n")
	p("| service | killed | new leader | took |\n|---|---|---|---|\n")
	for _, f := range c.Failovers {
		to := f.To
		if to == f.From {
			to += " (restarted at once, won again)"
		}
		p("| %s | %s | %s | %s |\n", f.Service, f.From, to, ms(f.Took))
	}
	p("\n### Faults\n\nIn order; start is since the first churn step.\n\n| fault | target | at step | start | took | what happened |\n|---|---|---|---|---|---|\n")
	for _, f := range c.Faults {
		detail := f.Detail
		if f.Err != nil {
			detail += " — error: " + f.Err.Error()
		}
		p("| %s | %s | %d | %s | %s | %s |\n", f.Kind, f.Service, f.AtOp, ms(f.Start), ms(f.Took), strings.ReplaceAll(detail, "|", "/"))
	}
	return b.Bytes()
}
