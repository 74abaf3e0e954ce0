package chartcheck

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// PrometheusRuleAPI is what a cluster with the Prometheus operator serves.
var prometheusRuleAPI = chartutil.VersionSet{"monitoring.coreos.com/v1", "monitoring.coreos.com/v1/PrometheusRule"}

func prometheusRules(t *testing.T, o Options) []*unstructured.Unstructured {
	t.Helper()
	r, err := Render(chartDir("sdp-helmdeploy"), o)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, obj := range r.Objects {
		if u, ok := obj.(*unstructured.Unstructured); ok && u.GetKind() == "PrometheusRule" {
			out = append(out, u)
		}
	}
	return out
}

// The umbrella chart renders its PrometheusRule only where the operator's
// API is served and it is not switched off, and the rules in it are those
// of deploy/prometheus/sdp-helmdeploy-rules.yaml, the file Prometheus
// without the operator loads and promtool tests (tests/observability): one
// set of rules, whatever the way of running Prometheus.
func TestPrometheusRule(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(ChartsDir(), "..", "deploy", "prometheus", "sdp-helmdeploy-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var shipped map[string]any
	if err := yaml.Unmarshal(b, &shipped); err != nil {
		t.Fatal(err)
	}
	if groups, _ := shipped["groups"].([]any); len(groups) == 0 {
		t.Fatal("deploy/prometheus/sdp-helmdeploy-rules.yaml has no groups")
	}

	for _, tc := range []struct {
		name string
		o    Options
		want int
	}{
		{"API not served", Options{}, 0},
		{"only ServiceMonitor served", Options{APIVersions: ServiceMonitorAPI}, 0},
		{"API served", Options{APIVersions: prometheusRuleAPI}, 1},
		{"API served, switched off", Options{APIVersions: prometheusRuleAPI, Set: []string{"prometheusRule.enabled=false"}}, 0},
		{"API served, extra labels", Options{APIVersions: prometheusRuleAPI, Set: []string{"prometheusRule.labels.release=kps"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rules := prometheusRules(t, tc.o)
			if len(rules) != tc.want {
				t.Fatalf("%d PrometheusRules, want %d", len(rules), tc.want)
			}
			if tc.want == 0 {
				return
			}
			pr := rules[0]
			if pr.GetAPIVersion() != "monitoring.coreos.com/v1" {
				t.Errorf("apiVersion %s", pr.GetAPIVersion())
			}
			if pr.GetName() != "sdp-alerts" {
				t.Errorf("name %q, want sdp-alerts", pr.GetName())
			}
			for _, s := range tc.o.Set {
				if s == "prometheusRule.labels.release=kps" && pr.GetLabels()["release"] != "kps" {
					t.Errorf("labels %v: want release=kps", pr.GetLabels())
				}
			}
			spec, ok := pr.Object["spec"].(map[string]any)
			if !ok {
				t.Fatalf("no spec: %v", pr.Object)
			}
			// Compared as data: the chart re-serialises the YAML.
			if !reflect.DeepEqual(spec["groups"], shipped["groups"]) {
				got, _ := yaml.Marshal(spec["groups"])
				t.Errorf("PrometheusRule groups differ from deploy/prometheus/sdp-helmdeploy-rules.yaml:\n%s", got)
			}
		})
	}
}

// Values that are not what the schema allows are refused with the field
// named, not rendered into a broken PrometheusRule.
func TestPrometheusRuleBadValues(t *testing.T) {
	for _, set := range []string{"prometheusRule.enabled=yes", "prometheusRule.labels.release=1", "prometheusRule.selector=x"} {
		_, err := Render(chartDir("sdp-helmdeploy"), Options{APIVersions: prometheusRuleAPI, Set: []string{set}})
		if err == nil {
			t.Errorf("--set %s: rendered", set)
		}
	}
}
