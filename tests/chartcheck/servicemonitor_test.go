package chartcheck

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/helmtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
)

var (
	serviceMonitors = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}
	crds            = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// Once the cluster serves monitoring.coreos.com/v1 (the Prometheus
// operator's API; testdata holds a stand-in CRD), a real install of a
// service chart discovers it through Helm's capabilities and creates a
// ServiceMonitor that selects the chart's Service and scrapes its named
// port. Without the API the same chart renders none (TestUmbrellaOptions),
// so installing it where there is no operator cannot fail on an unknown kind.
//
// It runs last in the package (file order) and removes the CRD again.
func TestServiceMonitorWhenServed(t *testing.T) {
	cp := cptest.Get(t)
	cfg := cp.RESTConfig()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dyn := dynamic.NewForConfigOrDie(cfg)
	if err := manifests.Apply(ctx, cfg, "testdata/prometheus-operator", slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("apply the ServiceMonitor CRD: %v", err)
	}
	t.Cleanup(func() {
		if err := dyn.Resource(crds).Delete(context.Background(), "servicemonitors.monitoring.coreos.com", metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete the ServiceMonitor CRD: %v", err)
		}
	})
	const ns, rel = "chartcheck-monitoring", "sm"
	cs := kubernetes.NewForConfigOrDie(cfg)
	createNamespaces(t, cs, ns)

	ch, err := loader.Load(chartDir("pod-monitor"))
	if err != nil {
		t.Fatal(err)
	}
	hc := helmtest.HelmConfig(t, cp, ns)
	inst := action.NewInstall(hc)
	inst.ReleaseName, inst.Namespace, inst.Timeout = rel, ns, time.Minute
	if _, err := inst.RunWithContext(ctx, ch, map[string]any{"helm": map[string]any{"namespace": ns}}); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Cleanup(func() {
		if _, err := action.NewUninstall(hc).Run(rel); err != nil {
			t.Errorf("uninstall: %v", err)
		}
	})

	name := rel + "-pod-monitor"
	sm, err := dyn.Resource(serviceMonitors).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ServiceMonitor of the installed chart: %v", err)
	}
	svc, err := cs.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 {
		t.Error("ServiceMonitor has no selector")
	}
	for k, v := range sel {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s; the Service has %q", k, v, svc.Labels[k])
		}
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	named := false
	for _, ep := range eps {
		port, _ := ep.(map[string]any)["port"].(string)
		for _, p := range svc.Spec.Ports {
			named = named || (port != "" && p.Name == port)
		}
	}
	if !named {
		t.Errorf("no ServiceMonitor endpoint names a port of the Service (%v): %v", svc.Spec.Ports, eps)
	}
}
