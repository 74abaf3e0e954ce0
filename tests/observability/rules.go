package observability

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"
)

var rangeSelector = regexp.MustCompile(`\[([0-9]+[smhdwy])\]`)

// ScaledRules writes into dir a copy of the shipped alert rules with every
// `for` and every range selector ([5m]) divided by factor, but not below
// floor, and returns its path. The shipped durations suit an operator (a
// release pending for 15 minutes); a test run of a few minutes with a 1 s
// scrape loads the scaled copy to see its faults raise the same alerts.
// Thresholds are left as they are. floor should cover a few scrapes, so
// that rate() has samples (5s for a 1s scrape interval).
func ScaledRules(dir string, factor float64, floor time.Duration) (string, error) {
	if factor < 1 {
		return "", fmt.Errorf("scale factor %v: want at least 1", factor)
	}
	b, err := os.ReadFile(RulesPath())
	if err != nil {
		return "", fmt.Errorf("rules: %w", err)
	}
	var doc struct {
		Groups []struct {
			Name  string           `json:"name"`
			Rules []map[string]any `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("rules %s: %w", RulesPath(), err)
	}
	scale := func(s string) (string, error) {
		d, err := model.ParseDuration(s)
		if err != nil {
			return "", err
		}
		scaled := max(time.Duration(float64(d)/factor).Round(time.Second), floor)
		return model.Duration(scaled).String(), nil
	}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			if f, ok := r["for"].(string); ok {
				if r["for"], err = scale(f); err != nil {
					return "", fmt.Errorf("rule %v: for %q: %w", r["alert"], f, err)
				}
			}
			expr, _ := r["expr"].(string)
			var serr error
			r["expr"] = rangeSelector.ReplaceAllStringFunc(expr, func(m string) string {
				s, err := scale(m[1 : len(m)-1])
				if err != nil {
					serr = err
					return m
				}
				return "[" + s + "]"
			})
			if serr != nil {
				return "", fmt.Errorf("rule %v: %w", r["alert"], serr)
			}
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "sdp-helmdeploy-rules-scaled.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", fmt.Errorf("scaled rules: %w", err)
	}
	return path, nil
}

// AlertFors returns, by alert name, how long each alert of the rules file
// at path must hold before it fires (its `for`; zero when it has none): a
// run that injects a fault compares how long the fault lasted with it to
// know whether the alert must have fired.
func AlertFors(path string) (map[string]time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				For   string `json:"for"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("rules %s: %w", path, err)
	}
	out := map[string]time.Duration{}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			var d model.Duration
			if r.For != "" {
				if d, err = model.ParseDuration(r.For); err != nil {
					return nil, fmt.Errorf("rules %s: alert %s: for %q: %w", path, r.Alert, r.For, err)
				}
			}
			out[r.Alert] = time.Duration(d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("rules %s: no alerts", path)
	}
	return out, nil
}
