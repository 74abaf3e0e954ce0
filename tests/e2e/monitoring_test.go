package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/tests/observability"
)

// quietBound bounds the wait, after convergence, for every alert to be
// neither pending nor firing.
const quietBound = 60 * time.Second

// testDashboard evaluates every panel query of the dashboard against the
// run's Prometheus, over [since, now] (since zero: at now): each must parse
// and return series; a problem fails the run, naming the panel and the
// query.
func testDashboard(t *testing.T, sys *System, report *Report, when string, since time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := CheckDashboard(ctx, sys.Prom, DashboardPath(), when, since)
	if err != nil {
		t.Errorf("dashboard check %s: %v", when, err)
		return
	}
	report.Dashboard = append(report.Dashboard, c)
	for _, p := range c.Problems {
		t.Errorf("dashboard %s, %s: %v", c.Path, when, p)
	}
	t.Logf("dashboard %s, %s (%s): %d panel queries, %d problems", c.Path, when, c.Over, c.Queries, len(c.Problems))
}

// testAlerts checks the alerts Prometheus evaluated live during the chaos
// run: after convergence all go quiet (within quietBound), and every alert
// a fault lasted long enough to raise fired, for each service it concerns,
// while the fault was on. What fired is kept for the report.
func testAlerts(t *testing.T, sys *System, res *ChaosResult, report *Report) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), quietBound+time.Minute)
	defer cancel()
	a := &AlertsReport{Scale: sys.RuleScale, QuietBound: quietBound}
	report.Alerts = a
	fail := func(format string, args ...any) {
		t.Helper()
		a.Err = strings.TrimSpace(a.Err + "; " + fmt.Sprintf(format, args...))
		t.Errorf(format, args...)
	}
	start := time.Now()
	stuck, err := WaitQuiet(ctx, sys.Prom, quietBound)
	a.QuietAfter = time.Since(start)
	if err != nil {
		fail("alerts after convergence: %v", err)
	}
	for _, s := range stuck {
		a.Stuck = append(a.Stuck, AlertString(s))
	}
	if len(stuck) > 0 {
		fail("alerts not quiet %v after convergence: %s", quietBound, strings.Join(a.Stuck, "; "))
	}
	a.Fired, err = FiringsBetween(ctx, sys.Prom, res.Started, time.Now(), PrometheusInterval)
	if err != nil {
		fail("alerts fired during the chaos run: %v", err)
		return
	}
	for _, f := range a.Fired {
		t.Logf("alert fired %s {%s} +%s..+%s; %s", f.Alert, f.LabelString(), secs(f.From), secs(f.To), Cause(f, res.Faults))
	}
	fors, err := observability.AlertFors(sys.Rules)
	if err != nil {
		fail("%v", err)
		return
	}
	for n := range fors {
		a.AllAlerts = append(a.AllAlerts, n)
	}
	sort.Strings(a.AllAlerts)
	if a.Expected, err = ExpectedAlerts(res.Faults, fors, a.Fired); err != nil {
		fail("%v", err)
		return
	}
	pending, err := PendingBetween(ctx, sys.Prom, res.Started, time.Now(), PrometheusInterval)
	if err != nil {
		fail("alerts pending during the chaos run: %v", err)
		return
	}
	SetPending(a.Expected, pending)
	for _, e := range a.Expected {
		from, to := e.Window()
		if e.CutShort(fors[e.Alert], PrometheusInterval) {
			t.Logf("alert %s for %s: pending +%s..+%s, cut short before its for of %v (a missed scrape); the fault did raise its condition",
				e.Alert, e.Job, secs(e.Pending.From), secs(e.Pending.To), fors[e.Alert])
			continue
		}
		if e.Fired == nil {
			fail("alert %s for %s did not fire between +%s and +%s: fault %q %s took it away %s from +%s (the alert's for is %v); %s",
				e.Alert, e.Job, secs(from), secs(to), e.Fault.Kind, e.Fault.Service, secs(e.Fault.Away), secs(e.Fault.AwayFrom), fors[e.Alert], pendingString(e.Pending))
		}
	}
}

func pendingString(p *Firing) string {
	if p == nil {
		return "never pending either"
	}
	return fmt.Sprintf("pending at most +%s..+%s", secs(p.From), secs(p.To))
}
