package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/prometheus"
	"github.com/ska-telescope/sdp-helmdeploy/tests/e2e/chaos"
	"github.com/ska-telescope/sdp-helmdeploy/tests/observability"
)

// DashboardCheck is one evaluation of every panel query of the dashboard
// against the run's Prometheus.
type DashboardCheck struct {
	When string
	// Over says over what time the queries were evaluated.
	Over     string
	Path     string
	Queries  int
	Problems []observability.Problem
}

// dashboardStep is the resolution of a dashboard check over a time range:
// the scrape interval, so that a short happy path has its points.
const dashboardStep = PrometheusInterval

// DashboardPath is the dashboard the run checks: SDP_E2E_DASHBOARD (a copy
// broken on purpose, say) or the shipped one.
func DashboardPath() string {
	if p := os.Getenv("SDP_E2E_DASHBOARD"); p != "" {
		return p
	}
	return observability.DashboardPath()
}

// CheckDashboard waits until Prometheus has scraped every target after
// now, so that what the run just did is in, then evaluates every panel
// query of the dashboard at path: over [since, now] as a panel showing that
// time does, or, since zero, at now.
func CheckDashboard(ctx context.Context, srv *prometheus.Server, path, when string, since time.Time) (DashboardCheck, error) {
	if err := WaitScrapedSince(ctx, srv, time.Now(), 30*time.Second); err != nil {
		return DashboardCheck{}, err
	}
	queries, err := observability.DashboardQueries(path)
	if err != nil {
		return DashboardCheck{}, err
	}
	c := DashboardCheck{When: when, Path: path, Queries: len(queries), Over: "at that instant"}
	var opts observability.CheckOptions
	if !since.IsZero() {
		// A range is evaluated at Start and every Step after, up to End:
		// Start is moved back so that End itself, after the last scrape, is
		// one of the points.
		end := time.Now()
		steps := (end.Sub(since) + dashboardStep - 1) / dashboardStep
		opts = observability.CheckOptions{Start: end.Add(-steps * dashboardStep), End: end, Step: dashboardStep}
		c.Over = fmt.Sprintf("over its %s, every %v", end.Sub(since).Round(time.Second), dashboardStep)
	}
	c.Problems = observability.CheckDashboard(ctx, srv, path, opts)
	return c, nil
}

// WaitScrapedSince waits until the last scrape of every target began
// after since.
func WaitScrapedSince(ctx context.Context, srv *prometheus.Server, since time.Time, timeout time.Duration) error {
	return eventually.Poll(ctx, timeout, 200*time.Millisecond, func(ctx context.Context) error {
		// up is written at every scrape, failed or not, stamped with the
		// scrape's start.
		v, err := srv.Query(ctx, "min(timestamp(up))")
		if err != nil {
			return err
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) == 0 {
			return fmt.Errorf("no targets scraped yet")
		}
		// timestamp() answers seconds since the epoch.
		if last := time.UnixMilli(int64(float64(vec[0].Value) * 1000)); last.Before(since) {
			return fmt.Errorf("a target last scraped at %s, before %s", last.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
		}
		return nil
	})
}

// Firing is one stretch of time an alert fired, as Prometheus's ALERTS
// series recorded it; From and To are since the chaos run's start, To the
// last evaluation that found it firing.
type Firing struct {
	Alert string
	// Labels are the alert's own labels (job, status, ...), without
	// alertname, alertstate, severity and instance.
	Labels   model.LabelSet
	From, To time.Duration
	// Instances is how many replicas' alerts (by instance label) overlap
	// in the stretch; zero for an alert not about one replica.
	Instances int
}

// Job is the job (service) the alert is about, or "".
func (f Firing) Job() string { return string(f.Labels["job"]) }

// LabelString renders Labels as k=v, sorted, comma-separated.
func (f Firing) LabelString() string {
	var parts []string
	for k, v := range f.Labels {
		parts = append(parts, fmt.Sprintf("%s=%s", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// FiringsBetween reads from Prometheus every stretch of time an alert fired
// in [start, end], sampled every interval, relative to start. Two samples
// further apart than two intervals are two stretches.
func FiringsBetween(ctx context.Context, srv *prometheus.Server, start, end time.Time, interval time.Duration) ([]Firing, error) {
	return alertsBetween(ctx, srv, "firing", start, end, interval)
}

// PendingBetween is FiringsBetween for the stretches alerts were pending
// (their condition held, their `for` not yet over).
func PendingBetween(ctx context.Context, srv *prometheus.Server, start, end time.Time, interval time.Duration) ([]Firing, error) {
	return alertsBetween(ctx, srv, "pending", start, end, interval)
}

func alertsBetween(ctx context.Context, srv *prometheus.Server, state string, start, end time.Time, interval time.Duration) ([]Firing, error) {
	v, err := srv.QueryRange(ctx, `ALERTS{alertstate="`+state+`"}`, start, end, interval)
	if err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("ALERTS: a %s, want a matrix", v.Type())
	}
	return firings(m, start, interval), nil
}

// firings splits each series of m into the stretches it was present, and
// merges the overlapping stretches of one alert on the replicas of one
// service (the same labels but instance).
func firings(m model.Matrix, start time.Time, interval time.Duration) []Firing {
	type stretch struct {
		Firing
		instance model.LabelValue
	}
	var all []stretch
	for _, s := range m {
		labels := model.LabelSet{}
		for k, v := range s.Metric {
			switch k {
			case model.AlertNameLabel, model.MetricNameLabel, model.InstanceLabel, "alertstate", "severity":
			default:
				labels[k] = v
			}
		}
		var cur *stretch
		for _, p := range s.Values {
			at := p.Timestamp.Time().Sub(start)
			if cur != nil && at-cur.To <= 2*interval {
				cur.To = at
				continue
			}
			if cur != nil {
				all = append(all, *cur)
			}
			cur = &stretch{Firing{Alert: string(s.Metric[model.AlertNameLabel]), Labels: labels, From: at, To: at}, s.Metric[model.InstanceLabel]}
		}
		if cur != nil {
			all = append(all, *cur)
		}
	}
	key := func(f Firing) string { return f.Alert + "{" + f.LabelString() + "}" }
	sort.SliceStable(all, func(i, j int) bool {
		if ki, kj := key(all[i].Firing), key(all[j].Firing); ki != kj {
			return ki < kj
		}
		return all[i].From < all[j].From
	})
	var out []Firing
	var instances map[model.LabelValue]bool
	for _, s := range all {
		if n := len(out); n > 0 && key(out[n-1]) == key(s.Firing) && s.From-out[n-1].To <= 2*interval {
			out[n-1].To = max(out[n-1].To, s.To)
		} else {
			out = append(out, s.Firing)
			instances = map[model.LabelValue]bool{}
		}
		if s.instance != "" {
			instances[s.instance] = true
			out[len(out)-1].Instances = len(instances)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		if out[i].Alert != out[j].Alert {
			return out[i].Alert < out[j].Alert
		}
		return out[i].LabelString() < out[j].LabelString()
	})
	return out
}

// AlertMargin is how much longer than an alert's `for` a fault must last
// for the alert to be sure to fire: a scrape to see the fault, an
// evaluation to start the alert pending and one to find it held, and slack
// for a loaded machine.
const AlertMargin = 4 * time.Second

// AlertGrace is how long after a fault ended its alert may still be found
// firing: a scrape and an evaluation to see it gone.
const AlertGrace = 5 * time.Second

// CauseAfter is how long after a fault ended an alert that begins is still
// put down to it: leaders lost while etcd was away are elected again only
// once their old lease (10 s) has expired, plus a scrape and an
// evaluation.
const CauseAfter = 15 * time.Second

// Expected is an alert that a fault must raise: it lasted long enough
// (Away at least the alert's `for` plus AlertMargin).
type Expected struct {
	Alert, Job string
	// Fault is the fault's record, with when it took what away.
	Fault FaultRecord
	// Fired is the first firing stretch of the alert for the job that
	// overlaps the fault's window, or nil; Seen is the first time in the
	// window it was firing (later than Fired.From when an earlier fault
	// raised it and it held on).
	Fired *Firing
	Seen  time.Duration
	// Pending is, when the alert did not fire, its longest pending stretch
	// in the window, or nil.
	Pending *Firing
}

// CutShort says whether an alert that did not fire was pending in its
// window but never for its whole `for` (hold): its condition held, and
// was lost before the `for` was over. On a loaded machine a scrape that
// times out leaves an evaluation without the series and resets the
// pending alert; the fault did move the metric and the rule did see it,
// which is what the live check is for. A rule whose `for` is too long
// shows a pending stretch as long as its `for` without firing, and is not
// cut short.
func (e Expected) CutShort(hold, interval time.Duration) bool {
	return e.Fired == nil && e.Pending != nil && e.Pending.To-e.Pending.From+interval < hold
}

// SetPending records in each expected alert that did not fire its
// longest pending stretch in the window, from pending.
func SetPending(expected []Expected, pending []Firing) {
	for i, e := range expected {
		if e.Fired != nil {
			continue
		}
		from, to := e.Window()
		for j, s := range pending {
			if s.Alert != e.Alert || s.Job() != e.Job || s.To < from || s.From > to {
				continue
			}
			if p := expected[i].Pending; p == nil || s.To-s.From > p.To-p.From {
				expected[i].Pending = &pending[j]
			}
		}
	}
}

// Window is where the alert must be seen firing, since the chaos start:
// from the fault's start (a server shutting down may be unreachable before
// it is gone) until AlertGrace after what it took away was back.
func (e Expected) Window() (from, to time.Duration) {
	return e.Fault.Start, e.Fault.AwayFrom + e.Fault.Away + AlertGrace
}

// faultAlerts are the alerts each fault takes away what they watch, and
// for which services: every replica probes the config DB and the API
// server, and a leader's death leaves its own service leaderless.
func faultAlerts(f FaultRecord) (alert string, jobs []string) {
	switch f.Kind {
	case chaos.RestartEtcd:
		return "SdpHelmdeployConfigDBUnreachable", Services
	case chaos.StopAPIServer, chaos.PauseAPIServer:
		return "SdpHelmdeployKubeAPIUnreachable", Services
	case chaos.KillLeader, chaos.KillReplica:
		// A replica killed while not leading takes no leader away (Away
		// is zero then).
		return "SdpHelmdeployNoLeader", []string{f.Service}
	}
	return "", nil
}

// probeFault says whether a fault takes away what a replica probes at
// scrape time: the config DB or the API server.
func probeFault(k chaos.FaultKind) bool {
	return k == chaos.RestartEtcd || k == chaos.StopAPIServer || k == chaos.PauseAPIServer
}

// slowProbe is when fault f made a replica's probe of what it took away
// slow (waiting out its 0.5 s bound) rather than failing at once: etcd
// from its SIGTERM until healthy again (the client waits for a
// connection), the API server while frozen or shutting down. A stopped
// API server refuses connections: its probe fails at once.
func slowProbe(f FaultRecord) (from, to time.Duration, ok bool) {
	switch f.Kind {
	case chaos.RestartEtcd, chaos.PauseAPIServer:
		return f.Start, f.AwayFrom + f.Away, f.Away > 0
	case chaos.StopAPIServer:
		return f.Start, f.AwayFrom, f.Away > 0
	}
	return 0, 0, false
}

// clearAway is how long, at a stretch, what fault f took away was away
// while the replicas could still be scraped. Each probe is bounded to
// 0.5 s and a scrape runs them one after the other, so while both the
// config DB's and the API server's probes are slow a scrape takes the
// whole 1 s scrape timeout, fails, and no alert has data: those parts of
// f's outage do not count.
func clearAway(f FaultRecord, faults []FaultRecord) time.Duration {
	if !probeFault(f.Kind) || f.Kind == chaos.StopAPIServer {
		// A stopped API server's probe fails at once: the scrapes go on.
		return f.Away
	}
	from, to := f.AwayFrom, f.AwayFrom+f.Away
	type span struct{ from, to time.Duration }
	var cut []span
	for _, o := range faults {
		// The config DB's outage is cut by the API server's, and the other
		// way round.
		if !probeFault(o.Kind) || (o.Kind == chaos.RestartEtcd) == (f.Kind == chaos.RestartEtcd) {
			continue
		}
		if sf, st, ok := slowProbe(o); ok {
			cut = append(cut, span{sf, st})
		}
	}
	sort.Slice(cut, func(i, j int) bool { return cut[i].from < cut[j].from })
	longest, at := time.Duration(0), from
	for _, c := range cut {
		if c.to <= at || c.from >= to {
			continue
		}
		longest = max(longest, min(c.from, to)-at)
		at = max(at, c.to)
	}
	return max(longest, to-at)
}

// ExpectedAlerts returns the alerts the faults must have raised, given
// each alert's `for` (fors, as the loaded rules have them), with the
// firing stretch that shows each, or none. A fault must raise its alert
// when what it took away was away, while replicas could be scraped, for
// at least the alert's `for` plus AlertMargin.
func ExpectedAlerts(faults []FaultRecord, fors map[string]time.Duration, fired []Firing) ([]Expected, error) {
	var out []Expected
	for _, f := range faults {
		alert, jobs := faultAlerts(f)
		if alert == "" || f.Away == 0 {
			continue
		}
		hold, ok := fors[alert]
		if !ok {
			return nil, fmt.Errorf("the rules have no alert %s, which fault %q must raise", alert, f.Kind)
		}
		if clearAway(f, faults) < hold+AlertMargin {
			continue
		}
		for _, job := range jobs {
			e := Expected{Alert: alert, Job: job, Fault: f}
			from, to := e.Window()
			for i, s := range fired {
				if s.Alert == alert && s.Job() == job && s.To >= from && s.From <= to {
					e.Fired, e.Seen = &fired[i], max(s.From, from)
					break
				}
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// Cause names the faults that were under way when a firing stretch began
// (or had ended up to CauseAfter before), latest first, with how long after
// each began it fired; "" if none was.
func Cause(s Firing, faults []FaultRecord) string {
	var parts []string
	for i := len(faults) - 1; i >= 0; i-- {
		f := faults[i]
		if s.From < f.Start || s.From > f.Start+f.Took+CauseAfter {
			continue
		}
		what := string(f.Kind)
		if f.Service != "" {
			what += " " + f.Service
		}
		parts = append(parts, fmt.Sprintf("%s (+%s) +%s", what, secs(f.Start), secs(s.From-f.Start)))
	}
	return strings.Join(parts, "; ")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// WaitQuiet waits, up to timeout, until no alert is pending or firing,
// and returns those still pending or firing then.
func WaitQuiet(ctx context.Context, srv *prometheus.Server, timeout time.Duration) ([]v1.Alert, error) {
	var left []v1.Alert
	err := eventually.Poll(ctx, timeout, time.Second, func(ctx context.Context) error {
		var err error
		if left, err = srv.Alerts(ctx); err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("%d alerts pending or firing", len(left))
		}
		return nil
	})
	if err != nil && len(left) == 0 {
		return nil, err
	}
	return left, nil
}

// AlertString names an alert of the Prometheus API with its labels, state
// and since when.
func AlertString(a v1.Alert) string {
	labels := model.LabelSet{}
	for k, v := range a.Labels {
		if k != model.AlertNameLabel && k != "severity" {
			labels[k] = v
		}
	}
	return fmt.Sprintf("%s{%s} %s since %s", a.Labels[model.AlertNameLabel],
		Firing{Labels: labels}.LabelString(), a.State, a.ActiveAt.UTC().Format(time.RFC3339))
}

// AlertsReport is what the chaos run's alerts did, for the report.
type AlertsReport struct {
	Scale RuleScale
	// AllAlerts are the names of every alert the rules have, sorted.
	AllAlerts []string
	// Fired is every firing stretch during the chaos run, until the end of
	// the quiet wait.
	Fired []Firing
	// Expected are the alerts the faults must have raised.
	Expected []Expected
	// QuietAfter is from convergence until no alert was pending or
	// firing; Stuck are those left when the wait gave up.
	QuietAfter time.Duration
	QuietBound time.Duration
	Stuck      []string
	// Err is why the alerts could not be read, if they could not.
	Err string
}
