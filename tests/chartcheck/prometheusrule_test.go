package chartcheck

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/helmtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
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

// prometheusRuleCRD stands in for the Prometheus operator's PrometheusRule
// CRD (its own is not reachable from the build machine): same group,
// version, kind and scope, with an open schema.
const prometheusRuleCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names:
    kind: PrometheusRule
    listKind: PrometheusRuleList
    plural: prometheusrules
    singular: prometheusrule
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
`

// Once the cluster serves PrometheusRule, a real install of the umbrella
// chart discovers it through Helm's capabilities and creates the
// PrometheusRule, with the shipped rules. The CRD is removed again, and
// the test waits until it is gone, so that the installs of later tests see
// the cluster as it was.
func TestPrometheusRuleInstalled(t *testing.T) {
	cp := cptest.Get(t)
	cfg := cp.RESTConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dyn := dynamic.NewForConfigOrDie(cfg)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "crd.yaml"), []byte(prometheusRuleCRD), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := manifests.Apply(ctx, cfg, dir, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("apply the PrometheusRule CRD: %v", err)
	}
	t.Cleanup(func() {
		const name = "prometheusrules.monitoring.coreos.com"
		if err := dyn.Resource(crds).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete the PrometheusRule CRD: %v", err)
			return
		}
		if err := eventually.Poll(context.Background(), time.Minute, 200*time.Millisecond, func(ctx context.Context) error {
			if _, err := dyn.Resource(crds).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("the PrometheusRule CRD is still there after its deletion (%v)", err)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	})
	const ns, rel = "chartcheck-rules", "rules"
	createNamespaces(t, kubernetes.NewForConfigOrDie(cfg), ns)

	ch, err := loader.Load(chartDir("sdp-helmdeploy"))
	if err != nil {
		t.Fatal(err)
	}
	hc := helmtest.HelmConfig(t, cp, ns)
	inst := action.NewInstall(hc)
	inst.ReleaseName, inst.Namespace, inst.Timeout = rel, ns, time.Minute
	vals, err := Values("global.helm.namespace=" + ns)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.RunWithContext(ctx, ch, vals); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Cleanup(func() {
		if _, err := action.NewUninstall(hc).Run(rel); err != nil {
			t.Errorf("uninstall: %v", err)
		}
	})

	pr, err := dyn.Resource(schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}).
		Namespace(ns).Get(ctx, rel+"-alerts", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("PrometheusRule of the installed chart: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(ChartsDir(), "..", "deploy", "prometheus", "sdp-helmdeploy-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var shipped map[string]any
	if err := yaml.Unmarshal(b, &shipped); err != nil {
		t.Fatal(err)
	}
	got, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	if len(got) == 0 || !reflect.DeepEqual(got, shipped["groups"]) {
		t.Errorf("installed PrometheusRule groups differ from deploy/prometheus/sdp-helmdeploy-rules.yaml:\n%v", got)
	}
}
