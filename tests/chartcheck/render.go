// Package chartcheck renders the Helm Deployer's charts (charts/ at the
// repository root) the way `helm template` does, with the Helm SDK, into
// typed Kubernetes objects; its tests lint the charts, check what they
// render, install the umbrella chart into the local control plane, test
// the services' RBAC against the real API server and check the Grafana
// dashboard against the metrics the service binaries serve.
package chartcheck

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"helm.sh/helm/v3/pkg/strvals"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// ServiceMonitorAPI is what a cluster with the Prometheus operator serves,
// as .Capabilities.APIVersions lists it.
var ServiceMonitorAPI = chartutil.VersionSet{"monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"}

// ChartsDir is the repository's charts/ directory, found from this file.
func ChartsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "charts")
}

// Options say what to render.
type Options struct {
	// Release and Namespace name the release (defaults: sdp, sdp-system).
	Release, Namespace string
	// Set holds --set style assignments, applied in order.
	Set []string
	// SetString holds --set-string style assignments, applied after Set.
	SetString []string
	// APIVersions are added to the default capabilities (for instance
	// ServiceMonitorAPI).
	APIVersions chartutil.VersionSet
}

// Rendered is what a chart rendered to.
type Rendered struct {
	// Objects are typed where client-go's scheme knows the kind
	// (*appsv1.Deployment, ...), else *unstructured.Unstructured.
	Objects []k8sruntime.Object
	// Notes is the rendered NOTES.txt.
	Notes string
}

// Values builds chart values from --set style assignments.
func Values(set ...string) (map[string]any, error) {
	vals := map[string]any{}
	for _, s := range set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	return vals, nil
}

// Render renders the chart in dir as `helm template` would: values
// checked against the charts' schemas, nothing sent to a cluster.
func Render(dir string, o Options) (*Rendered, error) {
	if o.Release == "" {
		o.Release = "sdp"
	}
	if o.Namespace == "" {
		o.Namespace = "sdp-system"
	}
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	vals, err := Values(o.Set...)
	if err != nil {
		return nil, err
	}
	for _, s := range o.SetString {
		if err := strvals.ParseIntoString(s, vals); err != nil {
			return nil, fmt.Errorf("--set-string %s: %w", s, err)
		}
	}
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewMemory()),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	inst := action.NewInstall(cfg)
	inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace = o.Release, o.Namespace
	inst.APIVersions = o.APIVersions
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", ch.Name(), err)
	}
	objs, err := Decode(rel.Manifest)
	if err != nil {
		return nil, err
	}
	return &Rendered{Objects: objs, Notes: rel.Info.Notes}, nil
}

// Decode splits a rendered manifest into objects, in the order Helm
// would install them.
func Decode(manifest string) ([]k8sruntime.Object, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var out []k8sruntime.Object
	// Strict: a field the API does not have is an error, not dropped.
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	for _, k := range keys {
		doc := docs[k]
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", k, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if scheme.Scheme.Recognizes(u.GroupVersionKind()) {
			obj, _, err := decoder.Decode([]byte(doc), nil, nil)
			if err != nil {
				return nil, fmt.Errorf("manifest %s (%s): %w", k, u.GetKind(), err)
			}
			out = append(out, obj)
			continue
		}
		out = append(out, &u)
	}
	return out, nil
}
