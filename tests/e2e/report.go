package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
	// Dashboard are the dashboard's checks against the run's Prometheus;
	// Alerts what its alert rules did during the chaos run.
	Dashboard []DashboardCheck
	Alerts    *AlertsReport
	// Total is the whole test's duration.
	Total time.Duration
	// History are the runs recorded on this machine, this one last.
	History []RunRecord
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
	p("figures vary between runs and with what else the machine is doing. The services here run as host processes ")
	p("and the processing pods on a kwok node; the chart on real nodes, services and processing as pods: docs/e2e-node.md (`make e2e-node`).\n\n")
	p("- Date: %s\n", r.Date.UTC().Format(time.RFC3339))
	p("- Machine: %s (shared with other jobs)\n", Machine())
	p("- Service settings: %s; two replicas of each service, `--leader-elect`\n", r.Settings)
	p("- Config DB: %d etcd members; each service replica reaches every member through its own proxy (`SDP_CONFIG_HOST` lists all %d), so that a member can be cut off\n", ConfigDBMembers, ConfigDBMembers)
	p("- The kube-apiserver writes an audit log of every mutating request (Metadata level, reads left out), which proves what a paused leader did after its term\n")
	p("- Whole test (build, control plane, happy path, chaos): %s\n\n", ms(r.Total))
	if len(r.Happy) > 0 {
		p("## Happy path\n\nFour deployments, one per entry form (`key`+`kind`, `id`+`type`, `dpl_id`+`type`, `deploy_id`+`kind`), with a dotted values key:\n\n")
		p("| step | took |\n|---|---|\n")
		for _, h := range r.Happy {
			p("| %s | %s |\n", h.What, ms(h.Took))
		}
		p("\n")
	}
	r.dashboardMarkdown(p)
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
		over := ""
		if c.DeployerConvergeTook > ConvergeLimit {
			over = ", **over the limit**"
		} else if c.DeployerConvergeTook > ConvergeBound {
			over = ", **over the target**"
		}
		p("- **The deployer's part converged %s after the last fault ended** (target %s, limit %s%s): entries, releases, state entries and pods maps as they must be, nothing left but the cluster's own work: pods of uninstalled releases, which its garbage collector and kubelet (kwok) delete, and pods maps trailing pods that changed less than %v before (a rollout the cluster is still making). Seen by watching the config DB, the release Secrets and the pods, compared at most every 100 ms and confirmed by a full read\n", ms(c.DeployerConvergeTook), ConvergeBound, ConvergeLimit, over, PodsMapGrace)
		p("- **Converged %s after the last fault ended, %s after the last churn write**: 0 missing releases, 0 orphan releases, 0 releases pending, 0 stale or orphan state entries, every pods map exact, 0 orphan pods\n",
			ms(c.ConvergeTook), ms(c.SinceLastWrite))
		for _, st := range c.ConvergeSteps {
			p("  - +%s: left %s\n", ms(st.At), kindsString(st.Left))
		}
		p("\n")
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
	if len(r.History) > 0 {
		p("### Convergence over the runs on this machine\n\nEvery `make e2e` on this machine records its run (`SDP_E2E_HISTORY`, shared by every clone): %s.\n\n", HistorySummary(r.History, ConvergeBound))
		p("| date | commit | seed | converged | deployer's part | whole system | last fault | seen by |\n|---|---|---|---|---|---|---|---|\n")
		recent := r.History[max(0, len(r.History)-15):]
		for _, h := range recent {
			p("| %s | %s | %d | %t | %s | %s | %s | %s |\n", h.Date.Format("2006-01-02 15:04"), h.Commit, h.Seed, h.Converged, ms(h.Deployer), ms(h.Whole), h.LastFault, h.Measure)
		}
		if len(recent) < len(r.History) {
			p("\n(the last %d of %d)\n", len(recent), len(r.History))
		}
		p("\n")
	}
	p("### Failovers\n\nFrom SIGKILL of the leading replica until the other replica's `sdp_helmdeploy_leader` gauge read 1; for a paused leader from SIGSTOP until the test saw the other replica's term begin in etcd (lease TTL %s):\n\n", ttlString(r.Opts.LeaderTTL))
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
	r.pausesMarkdown(p)
	r.alertsMarkdown(p)
	return b.Bytes()
}

// ttlString says the services' lease TTLs: one figure when all agree.
func ttlString(ttls map[string]time.Duration) string {
	seen := map[time.Duration]bool{}
	var parts []string
	for _, s := range Services {
		if ttl, ok := ttls[s]; ok {
			seen[ttl] = true
			parts = append(parts, fmt.Sprintf("%s %v", s, ttl))
		}
	}
	switch {
	case len(parts) == 0:
		return "unknown"
	case len(seen) == 1:
		return ttls[Services[0]].String()
	}
	return strings.Join(parts, ", ")
}

func (r Report) pausesMarkdown(p func(string, ...any)) {
	c := r.Chaos
	if len(c.Pauses) == 0 {
		return
	}
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	p("\n### Paused leaders\n\n")
	p("Each service's leading replica frozen (SIGSTOP) for twice its lease while the other took over, then resumed (SIGCONT). ")
	p("Its term ended when its election key (`<prefix>/helm-deployer/leader/<service>/`, held by its lease) was deleted: the test watched those keys on etcd and took the deletion's revision (R_end) and the time it saw it. ")
	p("After the run converged, the kube-apiserver's audit log was searched for mutating requests (create, update, patch, delete) with the replica's user agent `<service>/<version> (<identity>)` received after that time (up to its next term, if it led again), ")
	p("and the replica's `%s` (the etcd revision of its last config DB write, read soon after it noticed and at the end) compared with R_end; `%s` counts what its fence refused.\n\n", LastWriteRevisionMetric, FencedMetric)
	p("| service | frozen replica | SIGSTOP at | frozen | creates and changes meanwhile | next leader after | term ended (R_end) | audit: its mutating requests in its term / after | last config DB write | fenced | proof |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|\n")
	var problems []string
	for _, pp := range c.Pauses {
		rev, has := pp.LastWrite()
		last := "not served"
		if has {
			last = fmt.Sprintf("revision %d", rev)
		}
		if len(pp.Readings) == 0 {
			last = "not read"
		}
		next := "-"
		if pp.TakenOverBy != "" {
			next = fmt.Sprintf("%s after %s", pp.TakenOverBy, ms(pp.TakeoverAfter))
		}
		ended := "not ended"
		if pp.Term.Ended() {
			ended = fmt.Sprintf("revision %d, seen %s after SIGSTOP", pp.Term.EndRev, ms(pp.TermEndAfter))
			if pp.Term.EndGap {
				ended += " (found by listing again: at or before)"
			}
		}
		audit := "not read"
		if pp.AuditChecked {
			audit = fmt.Sprintf("%d / **%d**", pp.AuditInTerm, pp.AuditAfter)
			if !pp.MutatesKube {
				audit += " (changes nothing in the cluster)"
			}
		}
		if pp.LedAgain != nil {
			audit += fmt.Sprintf("; led again from revision %d", pp.LedAgain.StartRev)
		}
		probs := pp.Problems()
		verdict := "holds"
		if len(probs) > 0 {
			verdict = fmt.Sprintf("**%d problems**", len(probs))
			problems = append(problems, probs...)
		}
		p("| %s | %s (pid %d) | +%s | %s (lease %v) | %d | %s | %s | %s | %s | %s | %s |\n",
			pp.Service, pp.Replica, pp.PID, secs(pp.Paused), ms(pp.Frozen), pp.TTL, pp.ChurnWhilePaused, next, ended, audit, last, FencedString(pp.Fenced()), verdict)
	}
	p("\n")
	for _, pr := range problems {
		p("- %s\n", strings.ReplaceAll(pr, "|", "/"))
	}
	if len(problems) > 0 {
		p("\n")
	}
	p("The audit log held %.1f MB at the end, %d of its entries mutating requests of the services.\n\n", float64(c.AuditBytes)/1e6, c.AuditEntries)
	if c.TermGaps > 0 {
		p("%d election key changes were found by listing the keys again, not seen in the watch.\n\n", c.TermGaps)
	}
}

func (r Report) dashboardMarkdown(p func(string, ...any)) {
	if len(r.Dashboard) == 0 {
		return
	}
	p("## Dashboard\n\nEvery panel query of the Grafana dashboard, evaluated against the Prometheus that scraped the run (`$__rate_interval` as 5m): each must parse and return series.\n\n")
	p("| checked | dashboard | panel queries | problems |\n|---|---|---|---|\n")
	for _, d := range r.Dashboard {
		p("| %s, %s | `%s` | %d | %d |\n", d.When, d.Over, relPath(d.Path), d.Queries, len(d.Problems))
	}
	p("\n")
	problems := 0
	for _, d := range r.Dashboard {
		for _, pr := range d.Problems {
			p("- %s: panel %q query %s: %s: `%s`\n", d.When, pr.Panel, pr.RefID, strings.ReplaceAll(pr.Err, "\n", " "), pr.Expr)
			problems++
		}
	}
	if problems > 0 {
		p("\n")
	}
}

func (r Report) alertsMarkdown(p func(string, ...any)) {
	a := r.Alerts
	if a == nil {
		return
	}
	p("\n### Alerts\n\nPrometheus scraped every replica every %v (one job per service) and evaluated the shipped alert rules ", PrometheusInterval)
	p("with every `for` and range window divided by %g (not below %v). Times are since the first churn step; ", a.Scale.Factor, a.Scale.Floor)
	p("alerts about a replica (probes) are merged over the replicas of a service while they overlap. ")
	p("A fault is listed when the alert began while it was under way (or up to %v after), with how long after the fault began the alert fired.\n\n", CauseAfter)
	if len(a.Fired) == 0 {
		p("No alert fired.\n\n")
	} else {
		p("| alert | labels | replicas | fired | last seen | faults under way |\n|---|---|---|---|---|---|\n")
		for _, f := range a.Fired {
			cause := Cause(f, r.Chaos.Faults)
			if cause == "" {
				cause = "none (churn)"
			}
			replicas := "-"
			if f.Instances > 0 {
				replicas = fmt.Sprint(f.Instances)
			}
			p("| %s | %s | %s | +%s | +%s | %s |\n", f.Alert, f.LabelString(), replicas, secs(f.From), secs(f.To), cause)
		}
		p("\n")
	}
	fired := map[string]bool{}
	for _, f := range a.Fired {
		fired[f.Alert] = true
	}
	var quiet []string
	for _, n := range a.AllAlerts {
		if !fired[n] {
			quiet = append(quiet, n)
		}
	}
	if len(quiet) > 0 {
		p("Did not fire: %s.\n\n", strings.Join(quiet, ", "))
	}
	p("Must fire: each fault that took away what an alert watches for at least the alert's `for` plus %v, ", AlertMargin)
	p("not counting the time both probes were slow, the config DB away and the API server frozen or shutting down (each replica runs its two probes, 0.5 s each, one after the other, so every scrape then takes the 1 s scrape timeout, fails, and no alert has data; a stopped API server refuses at once). ")
	p("Seen firing for the service between the fault's start and %v after what it took away was back ", AlertGrace)
	p("(or, on a loaded machine, pending but cut short before its `for` by a scrape that timed out: the fault did raise the condition):\n\n")
	p("| alert | service | fault | away | fired |\n|---|---|---|---|---|\n")
	for _, e := range a.Expected {
		what := string(e.Fault.Kind)
		if e.Fault.Service != "" {
			what += " " + e.Fault.Service
		}
		got := "**no**"
		switch {
		case e.Fired == nil && e.Pending != nil:
			got = fmt.Sprintf("pending only, +%s..+%s", secs(e.Pending.From), secs(e.Pending.To))
		case e.Fired == nil:
		case e.Fired.From < e.Seen:
			got = fmt.Sprintf("firing since +%s (raised before this fault began, held on)", secs(e.Fired.From))
		default:
			got = fmt.Sprintf("+%s (%s after the fault began)", secs(e.Seen), secs(e.Seen-e.Fault.Start))
		}
		p("| %s | %s | %s (+%s) | %s from +%s | %s |\n", e.Alert, e.Job, what, secs(e.Fault.Start), secs(e.Fault.Away), secs(e.Fault.AwayFrom), got)
	}
	p("\n")
	if a.Err != "" {
		p("**Alert check failed**: %s\n", a.Err)
	} else {
		p("**All alerts quiet** (none pending or firing) %s after convergence (bound %v).\n", secs(a.QuietAfter), a.QuietBound)
	}
}

// relPath shows a path inside the repository relative to its root.
func relPath(path string) string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// Failures lists, one per line, what the report knows went wrong (the
// alerts' and the dashboard's checks), for the end of a failed run's log.
func (r Report) Failures() []string {
	var out []string
	if r.Alerts != nil && r.Alerts.Err != "" {
		out = append(out, "alerts: "+r.Alerts.Err)
	}
	for _, c := range r.Dashboard {
		for _, p := range c.Problems {
			out = append(out, fmt.Sprintf("dashboard %s, %s: %v", c.Path, c.When, p))
		}
	}
	if len(out) == 0 {
		out = append(out, "(not an alert or dashboard check: see the errors above the replicas' logs)")
	}
	return out
}

// kindsString renders mismatch counts by kind, sorted: "3 orphan pod; 1
// stale state", or "nothing".
func kindsString(kinds map[string]int) string {
	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []string
	for _, k := range names {
		out = append(out, fmt.Sprintf("%d %s", kinds[k], k))
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, "; ")
}
