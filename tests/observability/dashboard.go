// Package observability checks what operators look at: the shipped alert
// rules (promtool check and unit tests, deploy/prometheus) and the Grafana
// dashboard's queries (deploy/grafana), against a real Prometheus
// (testkit/prometheus). CheckDashboard is also what the end-to-end run
// calls after its happy path, against the Prometheus that scraped it.
package observability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/prometheus"
)

// RepoRoot is the repository's root directory, found from this file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// DashboardPath is the shipped dashboard.
func DashboardPath() string {
	return filepath.Join(RepoRoot(), "deploy", "grafana", "sdp-helmdeploy.json")
}

// RulesPath is the shipped alert rules file.
func RulesPath() string {
	return filepath.Join(RepoRoot(), "deploy", "prometheus", "sdp-helmdeploy-rules.yaml")
}

// Query is one PromQL expression of a dashboard panel.
type Query struct {
	Panel string // panel title
	RefID string
	Expr  string // as in the dashboard, Grafana variables unexpanded
}

// Problem is a panel query that does not parse or returns no series.
type Problem struct {
	Query
	Err string
}

func (p Problem) String() string {
	return fmt.Sprintf("panel %q query %s: %s\n  %s", p.Panel, p.RefID, p.Err, p.Expr)
}

type panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// DashboardQueries returns every panel query of the Grafana dashboard at
// path, rows' panels included, in dashboard order.
func DashboardQueries(path string) ([]Query, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", path, err)
	}
	var out []Query
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(out) == 0 {
		return nil, fmt.Errorf("dashboard %s: no panel queries", path)
	}
	return out, nil
}

// Expand replaces the Grafana variables the dashboard's queries use by
// what Grafana would put there: rateInterval for $__rate_interval (and
// $__interval, $__range). A variable left over makes the query fail to
// parse, which is reported.
func Expand(expr string, rateInterval model.Duration) string {
	r := rateInterval.String()
	return strings.NewReplacer("$__rate_interval", r, "${__rate_interval}", r,
		"$__interval", r, "${__interval}", r, "$__range", r, "${__range}", r).Replace(expr)
}

// CheckOptions tune CheckDashboard.
type CheckOptions struct {
	// RateInterval stands for $__rate_interval; default 5m, so that the
	// counters and histograms of a short run have their rates.
	RateInterval model.Duration
	// ParseOnly reports only queries that do not parse, not those that
	// return no series (a Prometheus with nothing scraped).
	ParseOnly bool
	// Start, when set, evaluates each query over [Start, End] (End zero:
	// now) every Step (zero: 15s), as a Grafana panel over that time range
	// does, rather than at the one instant now: a series anywhere in the
	// range is data. A run that ends with nothing left (every deployment
	// deleted) still showed releases on the way.
	Start, End time.Time
	Step       time.Duration
}

// CheckDashboard evaluates every panel query of the dashboard at path on
// srv now and returns the problems: queries that do not parse (Prometheus
// answers bad_data) and, unless ParseOnly, queries that return no series. A
// panel that can never show data is a defect; after a run that exercised
// the deployer, every panel should have some.
func CheckDashboard(ctx context.Context, srv *prometheus.Server, dashboardPath string, opts ...CheckOptions) []Problem {
	var o CheckOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.RateInterval == 0 {
		o.RateInterval = model.Duration(5 * time.Minute)
	}
	queries, err := DashboardQueries(dashboardPath)
	if err != nil {
		return []Problem{{Query: Query{Panel: "(dashboard)"}, Err: err.Error()}}
	}
	if !o.Start.IsZero() {
		if o.End.IsZero() {
			o.End = time.Now()
		}
		if o.Step <= 0 {
			o.Step = 15 * time.Second
		}
	}
	var problems []Problem
	for _, q := range queries {
		var v model.Value
		var err error
		if o.Start.IsZero() {
			v, err = srv.Query(ctx, Expand(q.Expr, o.RateInterval))
		} else {
			v, err = srv.QueryRange(ctx, Expand(q.Expr, o.RateInterval), o.Start, o.End, o.Step)
		}
		switch {
		case err != nil:
			problems = append(problems, Problem{Query: q, Err: err.Error()})
		case o.ParseOnly:
		case seriesCount(v) == 0:
			problems = append(problems, Problem{Query: q, Err: "no series"})
		}
	}
	return problems
}

func seriesCount(v model.Value) int {
	switch v := v.(type) {
	case model.Vector:
		return len(v)
	case model.Matrix:
		return len(v)
	case *model.Scalar, *model.String:
		return 1
	}
	return 0
}
