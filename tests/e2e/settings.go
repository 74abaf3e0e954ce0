package e2e

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

// Services are the three service binaries, by their directory and chart
// name.
var Services = []string{"release-manager", "pod-monitor", "resource-monitor"}

// Settings are how a service's container runs: its arguments (the image's
// entrypoint is the binary) and its environment.
type Settings struct {
	Service  string
	Replicas int
	Args     []string
	Env      []corev1.EnvVar
	// From says where the settings came from (the chart, or by hand).
	From string
}

// HandWritten are the settings used when the umbrella chart is not in the
// tree: the ones its templates give, written out.
func HandWritten() map[string]Settings {
	env := []corev1.EnvVar{
		{Name: "SDP_CONFIG_HOST", Value: "ska-sdp-etcd"},
		{Name: "SDP_CONFIG_PORT", Value: "2379"},
		{Name: "SDP_CONFIG_PROTOCOL", Value: "http"},
		{Name: "SDP_LOG_LEVEL", Value: "INFO"},
		{Name: "SDP_HTTP_ADDR", Value: ":8080"},
		{Name: "SDP_HELM_NAMESPACE", Value: "sdp"},
	}
	out := map[string]Settings{}
	for _, s := range Services {
		out[s] = Settings{Service: s, Replicas: 2, Args: []string{"--leader-elect=true"}, Env: env, From: "hand-written"}
	}
	rm := out["release-manager"]
	rm.Args = append(rm.Args, "--cache-dir=/tmp/release-manager", "--workers=16")
	rm.Env = append(append([]corev1.EnvVar{}, env...),
		corev1.EnvVar{Name: "SDP_HELM_PREFIX", Value: ""},
		corev1.EnvVar{Name: "SDP_HELM_TIMEOUT", Value: "300"},
		corev1.EnvVar{Name: "SDP_CHART_REPO_URL", Value: ""},
		corev1.EnvVar{Name: "SDP_CHART_REPO_REFRESH", Value: "300"})
	out["release-manager"] = rm
	return out
}

// ErrNoChart is returned by FromChart when the chart directory is absent.
var ErrNoChart = errors.New("umbrella chart not found")

// FromChart renders the umbrella chart in dir (client-side, as `helm
// template` does, with values on top of its own) and returns each
// service's container settings, with the replica count its Deployment
// asks for.
func FromChart(dir string, values map[string]any) (map[string]Settings, error) {
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoChart, dir, err)
	}
	c, err := loadWithFileDeps(dir)
	if err != nil {
		return nil, err
	}
	in := action.NewInstall(&action.Configuration{})
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace = "sdp-helmdeploy", "sdp-helmdeploy"
	rel, err := in.Run(c, values)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", dir, err)
	}
	return settingsFromManifest(rel.Manifest)
}

// loadWithFileDeps loads a chart and, as `helm dependency build` would,
// the file:// dependencies not vendored under its charts/ directory.
func loadWithFileDeps(dir string) (*chart.Chart, error) {
	c, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	have := map[string]bool{}
	for _, d := range c.Dependencies() {
		have[d.Name()] = true
	}
	for _, dep := range c.Metadata.Dependencies {
		rel, ok := strings.CutPrefix(dep.Repository, "file://")
		if !ok || have[dep.Name] {
			continue
		}
		sub, err := loadWithFileDeps(filepath.Join(dir, rel))
		if err != nil {
			return nil, fmt.Errorf("dependency %s of %s: %w", dep.Name, c.Name(), err)
		}
		c.AddDependency(sub)
		have[dep.Name] = true
	}
	return c, nil
}

// settingsFromManifest finds each service's Deployment in a rendered
// manifest: the one whose container is named after the service. Env taken
// from ConfigMaps of the same manifest is resolved; env from Secrets is
// kept as a reference for the caller to replace.
func settingsFromManifest(manifest string) (map[string]Settings, error) {
	configMaps := map[string]map[string]string{}
	var deployments []appsv1.Deployment
	for _, doc := range splitYAML(manifest) {
		var head struct{ Kind string }
		if err := utilyaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("rendered manifest: %w", err)
		}
		switch head.Kind {
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := utilyaml.Unmarshal(doc, &cm); err != nil {
				return nil, fmt.Errorf("rendered ConfigMap: %w", err)
			}
			configMaps[cm.Name] = cm.Data
		case "Deployment":
			var d appsv1.Deployment
			if err := utilyaml.Unmarshal(doc, &d); err != nil {
				return nil, fmt.Errorf("rendered Deployment: %w", err)
			}
			deployments = append(deployments, d)
		}
	}
	out := map[string]Settings{}
	for _, d := range deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if !isService(c.Name) {
				continue
			}
			s := Settings{Service: c.Name, Replicas: 1, Args: c.Args, From: "chart, Deployment " + d.Name}
			if d.Spec.Replicas != nil {
				s.Replicas = int(*d.Spec.Replicas)
			}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef == nil {
					continue
				}
				keys := sortedKeys(configMaps[ef.ConfigMapRef.Name])
				for _, k := range keys {
					s.Env = append(s.Env, corev1.EnvVar{Name: ef.Prefix + k, Value: configMaps[ef.ConfigMapRef.Name][k]})
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
					ref := e.ValueFrom.ConfigMapKeyRef
					if v, ok := configMaps[ref.Name][ref.Key]; ok {
						e = corev1.EnvVar{Name: e.Name, Value: v}
					}
				}
				s.Env = append(s.Env, e)
			}
			out[c.Name] = s
		}
	}
	var missing []string
	for _, s := range Services {
		if _, ok := out[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("rendered chart has no Deployment with a container named %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func isService(name string) bool {
	for _, s := range Services {
		if s == name {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func splitYAML(manifest string) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split([]byte("\n"+manifest), []byte("\n---")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// Overrides are what must point at the test's own parts rather than at a
// cluster's: everything else is run as the chart gives it.
type Overrides struct {
	// ConfigHost (host:port of each member, comma-separated) and
	// ConfigPort reach the test's config DB (through its proxies), over
	// plain http: SDP_CONFIG_HOST, SDP_CONFIG_PORT, SDP_CONFIG_PROTOCOL;
	// SDP_CONFIG_CERT is dropped.
	ConfigHost string
	ConfigPort int
	// Username and Password replace the Secret-sourced SDP_CONFIG_USERNAME
	// and SDP_CONFIG_PASSWORD; empty drops them (the test's etcd has no
	// authentication).
	Username, Password string
	// ChartRepoURL is the test's chart repository (SDP_CHART_REPO_URL).
	ChartRepoURL string
	// Kubeconfig replaces the in-cluster service account (--kubeconfig).
	Kubeconfig string
	// Home replaces HOME=/tmp (a container's emptyDir), and holds
	// --cache-dir for the release-manager.
	Home string
	// Identity names the replica in the election, as the pod name would
	// (--identity).
	Identity string
	// Namespace, when set, replaces SDP_HELM_NAMESPACE.
	Namespace string
	// HTTPAddr is the loopback address the service serves /metrics and
	// the probes on; empty is 127.0.0.1:0 (the service logs the port it
	// got). A fixed one keeps a replica's scrape target across restarts.
	HTTPAddr string
}

// Command returns the arguments and environment to run a service binary
// with: s as rendered, with o applied. The HTTP address becomes o.HTTPAddr
// (default 127.0.0.1:0), the logs JSON, and PATH is kept.
func (s Settings) Command(o Overrides) (args, env []string, err error) {
	httpAddr := o.HTTPAddr
	if httpAddr == "" {
		httpAddr = "127.0.0.1:0"
	}
	set := map[string]string{
		"SDP_CONFIG_HOST":     o.ConfigHost,
		"SDP_CONFIG_PORT":     fmt.Sprint(o.ConfigPort),
		"SDP_CONFIG_PROTOCOL": "http",
		"SDP_HTTP_ADDR":       httpAddr,
		"HOME":                o.Home,
		// The harness reads the services' logs field by field, as JSON
		// (the chart's default is the SKA format).
		"SDP_LOG_FORMAT": "json",
	}
	if o.Username != "" {
		set["SDP_CONFIG_USERNAME"], set["SDP_CONFIG_PASSWORD"] = o.Username, o.Password
	}
	if o.Namespace != "" {
		set["SDP_HELM_NAMESPACE"] = o.Namespace
	}
	if s.Service == "release-manager" {
		set["SDP_CHART_REPO_URL"] = o.ChartRepoURL
	}
	drop := map[string]bool{"SDP_CONFIG_CERT": true, "SDP_CONFIG_USERNAME": o.Username == "", "SDP_CONFIG_PASSWORD": o.Username == ""}
	seen := map[string]bool{}
	env = []string{"PATH=" + os.Getenv("PATH")}
	for _, e := range s.Env {
		if drop[e.Name] && set[e.Name] == "" {
			continue
		}
		if v, ok := set[e.Name]; ok {
			env = append(env, e.Name+"="+v)
			seen[e.Name] = true
			continue
		}
		if e.ValueFrom != nil {
			return nil, nil, fmt.Errorf("%s: env %s comes from %s, which the test cannot provide", s.Service, e.Name, describeSource(e.ValueFrom))
		}
		env = append(env, e.Name+"="+e.Value)
	}
	for _, k := range sortedKeys(set) {
		if !seen[k] && set[k] != "" {
			env = append(env, k+"="+set[k])
		}
	}
	// The flag package lets the last occurrence win, so the overrides are
	// appended rather than edited into the chart's list.
	args = append(append([]string{}, s.Args...), "--http-addr="+httpAddr, "--kubeconfig="+o.Kubeconfig, "--identity="+o.Identity)
	if s.Service == "release-manager" {
		args = append(args, "--cache-dir="+filepath.Join(o.Home, "release-manager"))
	}
	return args, env, nil
}

// LeaderTTL is the leadership lease the service runs with: its
// --leader-ttl argument (the last one wins, as the flag package has it), or
// the flag's default.
func (s Settings) LeaderTTL() (time.Duration, error) {
	var o service.Options
	fs := flag.NewFlagSet(s.Service, flag.ContinueOnError)
	o.Bind(fs)
	v := fs.Lookup("leader-ttl").DefValue
	for i, a := range s.Args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "leader-ttl" {
			continue
		}
		if !hasVal {
			if i+1 >= len(s.Args) {
				return 0, fmt.Errorf("%s: --leader-ttl without a value", s.Service)
			}
			val = s.Args[i+1]
		}
		v = val
	}
	ttl, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: --leader-ttl=%q: %w", s.Service, v, err)
	}
	return ttl, nil
}

func describeSource(src *corev1.EnvVarSource) string {
	switch {
	case src.SecretKeyRef != nil:
		return "Secret " + src.SecretKeyRef.Name
	case src.ConfigMapKeyRef != nil:
		return "ConfigMap " + src.ConfigMapKeyRef.Name
	case src.FieldRef != nil:
		return "field " + src.FieldRef.FieldPath
	}
	return "a source"
}

// envLookup reads a KEY=value list, for settings.Parse.
func envLookup(env []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := "", false
		for _, kv := range env {
			if k, val, found := strings.Cut(kv, "="); found && k == name {
				v, ok = val, true
			}
		}
		return v, ok
	}
}
