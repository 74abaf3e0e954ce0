package chartcheck

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"

	"github.com/ska-telescope/sdp-helmdeploy/shared/logging"
	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
)

var services = []string{"release-manager", "pod-monitor", "resource-monitor"}

const umbrella = "sdp-helmdeploy"

func chartDir(name string) string { return filepath.Join(ChartsDir(), name) }

// Strict lint, as `helm lint --strict`: no error and no warning, with the
// default values and with the option sets the charts document.
func TestLint(t *testing.T) {
	cases := []struct {
		chart string
		set   []string
	}{
		{chart: "sdp-helmdeploy-lib"},
		{chart: "release-manager"},
		{chart: "release-manager", set: []string{"replicas=2", "configDB.tls.secretName=etcd-ca", "configDB.existingSecret=etcd-cred", "chartRepo.url=https://charts.example.org"}},
		{chart: "pod-monitor"},
		{chart: "resource-monitor"},
		{chart: umbrella},
		{chart: umbrella, set: []string{"global.configDB.host=etcd", "global.configDB.tls.secretName=etcd-ca", "global.configDB.existingSecret=etcd-cred", "global.helm.timeout=600", "pod-monitor.replicas=2"}},
		{chart: umbrella, set: []string{"global.configDB.tls.secretName=etcd-client", "global.configDB.tls.identityKey=client.pem", "global.configDB.tls.caKey=",
			"global.configDB.tls.insecureSkipVerify=true", "global.hostNetwork=true", "global.apiServer.host=127.0.0.1", "global.apiServer.port=6443",
			"pod-monitor.httpPort=8081", "resource-monitor.httpPort=8082", "release-manager.replicas=2",
			"release-manager.extraVolumes[0].name=repos", "release-manager.extraVolumes[0].configMap.name=repos",
			"release-manager.extraVolumeMounts[0].name=repos", "release-manager.extraVolumeMounts[0].mountPath=/etc/helm"}},
	}
	for _, c := range cases {
		t.Run(c.chart+" "+strings.Join(c.set, ","), func(t *testing.T) {
			vals, err := Values(c.set...)
			if err != nil {
				t.Fatal(err)
			}
			l := lint.All(chartDir(c.chart), vals, "sdp-system", true)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("%s", m)
				}
			}
			if len(l.Messages) > 0 {
				t.Logf("lint said: %v", l.Messages)
			}
		})
	}
}

// objects sorts what a chart rendered by kind.
type objects struct {
	deployments     map[string]*appsv1.Deployment // by container (service) name
	services        map[string]*corev1.Service    // by app.kubernetes.io/name
	serviceAccounts map[string]*corev1.ServiceAccount
	roles           []*rbacv1.Role
	roleBindings    []*rbacv1.RoleBinding
	clusterRoles    []*rbacv1.ClusterRole
	clusterBindings []*rbacv1.ClusterRoleBinding
	serviceMonitors []*unstructured.Unstructured
	pdbs            map[string]*policyv1.PodDisruptionBudget // by app.kubernetes.io/name
	other           []k8sruntime.Object
}

func sortObjects(t *testing.T, objs []k8sruntime.Object) objects {
	t.Helper()
	o := objects{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{}, serviceAccounts: map[string]*corev1.ServiceAccount{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}}
	for _, obj := range objs {
		switch x := obj.(type) {
		case *appsv1.Deployment:
			if len(x.Spec.Template.Spec.Containers) != 1 {
				t.Fatalf("deployment %s has %d containers, want 1", x.Name, len(x.Spec.Template.Spec.Containers))
			}
			o.deployments[x.Spec.Template.Spec.Containers[0].Name] = x
		case *corev1.Service:
			o.services[x.Labels["app.kubernetes.io/name"]] = x
		case *corev1.ServiceAccount:
			o.serviceAccounts[x.Name] = x
		case *policyv1.PodDisruptionBudget:
			o.pdbs[x.Labels["app.kubernetes.io/name"]] = x
		case *rbacv1.Role:
			o.roles = append(o.roles, x)
		case *rbacv1.RoleBinding:
			o.roleBindings = append(o.roleBindings, x)
		case *rbacv1.ClusterRole:
			o.clusterRoles = append(o.clusterRoles, x)
		case *rbacv1.ClusterRoleBinding:
			o.clusterBindings = append(o.clusterBindings, x)
		case *unstructured.Unstructured:
			if x.GetKind() == "ServiceMonitor" {
				o.serviceMonitors = append(o.serviceMonitors, x)
				continue
			}
			o.other = append(o.other, x)
		default:
			o.other = append(o.other, x)
		}
	}
	return o
}

func render(t *testing.T, chart string, o Options) objects {
	t.Helper()
	r, err := Render(chartDir(chart), o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(r.Notes) == "" {
		t.Errorf("%s: NOTES.txt rendered empty", chart)
	}
	objs := sortObjects(t, r.Objects)
	if len(objs.other) > 0 {
		t.Errorf("%s rendered unexpected objects: %v", chart, objs.other)
	}
	return objs
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := m[e.Name]; dup {
			panic("env " + e.Name + " set twice")
		}
		m[e.Name] = e
	}
	return m
}

// checkDeployment asserts what every service's Deployment must have,
// whatever the values: the restricted securityContext, probes, the named
// metrics port and its annotations, a writable /tmp, the SDP_* env that
// settings.Parse accepts, and a ServiceAccount of its own.
func checkDeployment(t *testing.T, o objects, svc string) {
	t.Helper()
	d := o.deployments[svc]
	if d == nil {
		t.Fatalf("no Deployment with a container named %s", svc)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if len(c.Command) > 0 {
		t.Errorf("%s: command %v set; the image's entrypoint is the binary", svc, c.Command)
	}
	if !strings.HasPrefix(c.Image, "sdp-helmdeploy/"+svc+":") && !strings.Contains(c.Image, svc) {
		t.Errorf("%s: image %s", svc, c.Image)
	}

	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("%s: securityContext missing (pod %v, container %v)", svc, psc, sc)
	}
	if !isTrue(psc.RunAsNonRoot) && !isTrue(sc.RunAsNonRoot) {
		t.Errorf("%s: runAsNonRoot not set", svc)
	}
	if u := firstNonNil(sc.RunAsUser, psc.RunAsUser); u == nil || *u == 0 {
		t.Errorf("%s: runs as uid %v", svc, u)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("%s: root filesystem not read-only", svc)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation not false", svc)
	}
	if isTrue(sc.Privileged) {
		t.Errorf("%s: privileged", svc)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities %+v, want drop ALL and add none", svc, sc.Capabilities)
	}
	for _, sp := range []*corev1.SeccompProfile{psc.SeccompProfile, sc.SeccompProfile} {
		if sp != nil && sp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccomp %s", svc, sp.Type)
		}
	}
	if psc.SeccompProfile == nil && sc.SeccompProfile == nil {
		t.Errorf("%s: no seccomp profile", svc)
	}

	env := envOf(c)
	addr := env["SDP_HTTP_ADDR"].Value
	port := 0
	for _, p := range c.Ports {
		if p.Name == "http-metrics" {
			port = int(p.ContainerPort)
		}
	}
	if port == 0 || addr != ":"+strconv.Itoa(port) {
		t.Errorf("%s: port http-metrics %d, SDP_HTTP_ADDR %q", svc, port, addr)
	}
	for probe, want := range map[string]struct {
		p    *corev1.Probe
		path string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		if want.p == nil || want.p.HTTPGet == nil || want.p.HTTPGet.Path != want.path ||
			(want.p.HTTPGet.Port.String() != "http-metrics" && want.p.HTTPGet.Port.IntValue() != port) {
			t.Errorf("%s: %s probe %+v, want GET %s on the metrics port", svc, probe, want.p, want.path)
		}
	}
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(port) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("%s: pod annotations %v", svc, ann)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: resources %+v: want cpu and memory requests and a memory limit", svc, c.Resources)
	}

	// /tmp is the one writable place, an emptyDir.
	tmpVolume := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/tmp" {
			tmpVolume = m.Name
		}
	}
	if v := volume(pod, tmpVolume); v == nil || v.EmptyDir == nil {
		t.Errorf("%s: /tmp is not an emptyDir (mount %q)", svc, tmpVolume)
	}

	// The env is one the service accepts.
	lookup := func(name string) (string, bool) {
		e, ok := env[name]
		if !ok || e.ValueFrom != nil {
			return "", false
		}
		return e.Value, true
	}
	if _, err := settings.Parse(lookup); err != nil {
		t.Errorf("%s: the rendered env is refused: %v", svc, err)
	}
	if _, err := logging.FormatFromEnv(lookup); err != nil {
		t.Errorf("%s: the rendered log format is refused: %v", svc, err)
	}

	// Its own ServiceAccount, and the Service that scrapes it.
	sa := pod.ServiceAccountName
	if o.serviceAccounts[sa] == nil {
		t.Errorf("%s: ServiceAccount %q not rendered", svc, sa)
	}
	for other, od := range o.deployments {
		if other != svc && od.Spec.Template.Spec.ServiceAccountName == sa {
			t.Errorf("%s and %s share ServiceAccount %s", svc, other, sa)
		}
	}
	s := o.services[svc]
	if s == nil {
		t.Fatalf("%s: no Service", svc)
	}
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Name != "http-metrics" || s.Spec.Ports[0].TargetPort.String() != "http-metrics" {
		t.Errorf("%s: service ports %+v, want one named http-metrics", svc, s.Spec.Ports)
	}
	if s.Annotations["prometheus.io/scrape"] != "true" || s.Annotations["prometheus.io/port"] != strconv.Itoa(int(s.Spec.Ports[0].Port)) {
		t.Errorf("%s: service annotations %v", svc, s.Annotations)
	}
	for k, v := range s.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("%s: service selector %v does not select the pods (%v)", svc, s.Spec.Selector, d.Spec.Template.Labels)
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func firstNonNil[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

func volume(pod corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

func hasArg(c corev1.Container, arg string) bool { return slices.Contains(c.Args, arg) }

func releaseManagerTimeout(t *testing.T, d *appsv1.Deployment) int64 {
	t.Helper()
	v := envOf(d.Spec.Template.Spec.Containers[0])["SDP_HELM_TIMEOUT"].Value
	timeout, err := settings.ParseSeconds(v)
	if err != nil {
		t.Fatalf("SDP_HELM_TIMEOUT %q: %v", v, err)
	}
	return int64(timeout.Seconds())
}

// Each service chart renders alone: its own Deployment, container named
// after the service, image sdp-helmdeploy/<service>:<appVersion> unless
// set, and the same invariants as in the umbrella chart.
func TestServiceChartsAlone(t *testing.T) {
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			o := render(t, svc, Options{Release: svc})
			if len(o.deployments) != 1 {
				t.Fatalf("%d deployments", len(o.deployments))
			}
			checkDeployment(t, o, svc)
			if img := o.deployments[svc].Spec.Template.Spec.Containers[0].Image; img != "sdp-helmdeploy/"+svc+":0.1.0" {
				t.Errorf("image %s, want sdp-helmdeploy/%s:0.1.0 (the appVersion)", img, svc)
			}
			o = render(t, svc, Options{Release: svc, Set: []string{"image.repository=registry.example.org/x/" + svc, "image.tag=abc123", "image.pullPolicy=Always"}})
			c := o.deployments[svc].Spec.Template.Spec.Containers[0]
			if c.Image != "registry.example.org/x/"+svc+":abc123" || c.ImagePullPolicy != corev1.PullAlways {
				t.Errorf("image %s %s after setting image.*", c.Image, c.ImagePullPolicy)
			}
		})
	}
}

func TestUmbrellaOptions(t *testing.T) {
	cases := []struct {
		name  string
		set   []string
		apis  []string
		check func(t *testing.T, o objects)
	}{
		{name: "defaults", check: func(t *testing.T, o objects) {
			if len(o.deployments) != 3 {
				t.Errorf("%d deployments, want 3", len(o.deployments))
			}
			if len(o.serviceMonitors) != 0 {
				t.Errorf("%d ServiceMonitors rendered without the API", len(o.serviceMonitors))
			}
			if len(o.pdbs) != 0 {
				t.Errorf("%d PodDisruptionBudgets with one replica each", len(o.pdbs))
			}
			for svc, d := range o.deployments {
				c := d.Spec.Template.Spec.Containers[0]
				env := envOf(c)
				if *d.Spec.Replicas != 1 || !hasArg(c, "--leader-elect=true") {
					t.Errorf("%s: replicas %d args %v", svc, *d.Spec.Replicas, c.Args)
				}
				if env["SDP_CONFIG_PROTOCOL"].Value != "http" {
					t.Errorf("%s: protocol %q", svc, env["SDP_CONFIG_PROTOCOL"].Value)
				}
				if env["SDP_LOG_FORMAT"].Value != "ska" {
					t.Errorf("%s: log format %q, want ska (as the Python deployer logs)", svc, env["SDP_LOG_FORMAT"].Value)
				}
				for _, name := range []string{"SDP_CONFIG_CERT", "SDP_CONFIG_CA", "SDP_CONFIG_INSECURE_SKIP_VERIFY", "SDP_CONFIG_USERNAME", "SDP_CONFIG_PASSWORD",
					"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} {
					if _, ok := env[name]; ok {
						t.Errorf("%s: %s set by default", svc, name)
					}
				}
			}
			rm := o.deployments["release-manager"]
			if grace, timeout := *rm.Spec.Template.Spec.TerminationGracePeriodSeconds, releaseManagerTimeout(t, rm); timeout != 300 || grace <= timeout {
				t.Errorf("release-manager: grace %d s, helm timeout %d s: want 300 and a longer grace", grace, timeout)
			}
			c := rm.Spec.Template.Spec.Containers[0]
			if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--cache-dir=/tmp/") }) {
				t.Errorf("release-manager: cache not under /tmp: %v", c.Args)
			}
		}},
		{name: "two replicas", set: []string{"release-manager.replicas=2", "pod-monitor.replicas=2", "resource-monitor.replicas=2"}, check: func(t *testing.T, o objects) {
			for svc, d := range o.deployments {
				if *d.Spec.Replicas != 2 || !hasArg(d.Spec.Template.Spec.Containers[0], "--leader-elect=true") {
					t.Errorf("%s: replicas %d args %v", svc, *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Args)
				}
				// A drain takes one replica at a time, and the scheduler
				// is asked to spread them.
				pdb := o.pdbs[svc]
				if pdb == nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 ||
					!maps.Equal(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
					t.Errorf("%s: PodDisruptionBudget %+v", svc, pdb)
				}
				aff := d.Spec.Template.Spec.Affinity
				if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
					!maps.Equal(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
					t.Errorf("%s: affinity %+v, want the replicas spread over nodes", svc, aff)
				}
			}
		}},
		{name: "one replica without election", set: []string{"pod-monitor.leaderElection.enabled=false"}, check: func(t *testing.T, o objects) {
			if !hasArg(o.deployments["pod-monitor"].Spec.Template.Spec.Containers[0], "--leader-elect=false") {
				t.Errorf("pod-monitor args %v", o.deployments["pod-monitor"].Spec.Template.Spec.Containers[0].Args)
			}
		}},
		{name: "TLS secret", set: []string{"global.configDB.tls.secretName=etcd-ca", "global.configDB.tls.caKey=bundle.pem"}, check: func(t *testing.T, o objects) {
			for svc, d := range o.deployments {
				pod := d.Spec.Template.Spec
				c := pod.Containers[0]
				env := envOf(c)
				cert := env["SDP_CONFIG_CA"].Value
				if env["SDP_CONFIG_PROTOCOL"].Value != "https" || !strings.HasSuffix(cert, "/bundle.pem") {
					t.Errorf("%s: protocol %q CA %q", svc, env["SDP_CONFIG_PROTOCOL"].Value, cert)
				}
				if id, ok := env["SDP_CONFIG_CERT"]; ok {
					t.Errorf("%s: SDP_CONFIG_CERT=%q with a CA only", svc, id.Value)
				}
				mounted := false
				for _, m := range c.VolumeMounts {
					if v := volume(pod, m.Name); v != nil && v.Secret != nil && v.Secret.SecretName == "etcd-ca" &&
						strings.HasPrefix(cert, strings.TrimSuffix(m.MountPath, "/")+"/") && m.ReadOnly {
						mounted = true
					}
				}
				if !mounted {
					t.Errorf("%s: SDP_CONFIG_CA %s is not in a read-only mount of secret etcd-ca", svc, cert)
				}
			}
		}},
		{name: "credentials secret", set: []string{"global.configDB.existingSecret=etcd-cred", "global.configDB.passwordKey=pw"}, check: func(t *testing.T, o objects) {
			for svc, d := range o.deployments {
				env := envOf(d.Spec.Template.Spec.Containers[0])
				for name, key := range map[string]string{"SDP_CONFIG_USERNAME": "username", "SDP_CONFIG_PASSWORD": "pw"} {
					e := env[name]
					if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
						e.ValueFrom.SecretKeyRef.Name != "etcd-cred" || e.ValueFrom.SecretKeyRef.Key != key {
						t.Errorf("%s: %s = %+v, want secret etcd-cred key %s", svc, name, e, key)
					}
				}
			}
		}},
		{name: "ServiceMonitor API served", apis: ServiceMonitorAPI, check: func(t *testing.T, o objects) {
			if len(o.serviceMonitors) != 3 {
				t.Fatalf("%d ServiceMonitors, want 3", len(o.serviceMonitors))
			}
			for _, sm := range o.serviceMonitors {
				eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
				sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
				if len(eps) != 1 || eps[0].(map[string]any)["port"] != "http-metrics" {
					t.Errorf("%s: endpoints %v", sm.GetName(), eps)
				}
				if s := o.services[sel["app.kubernetes.io/name"]]; s == nil || s.Labels["app.kubernetes.io/instance"] != sel["app.kubernetes.io/instance"] {
					t.Errorf("%s: selector %v selects no Service", sm.GetName(), sel)
				}
			}
		}},
		{name: "ServiceMonitor off", apis: ServiceMonitorAPI, set: []string{"release-manager.metrics.serviceMonitor.enabled=false"}, check: func(t *testing.T, o objects) {
			if len(o.serviceMonitors) != 2 {
				t.Errorf("%d ServiceMonitors, want 2", len(o.serviceMonitors))
			}
		}},
		{name: "longer Helm timeout", set: []string{"global.helm.timeout=900"}, check: func(t *testing.T, o objects) {
			rm := o.deployments["release-manager"]
			if grace, timeout := *rm.Spec.Template.Spec.TerminationGracePeriodSeconds, releaseManagerTimeout(t, rm); timeout != 900 || grace <= timeout {
				t.Errorf("grace %d s, helm timeout %d s", grace, timeout)
			}
		}},
		{name: "global settings win", set: []string{"global.configDB.host=etcd.global", "release-manager.configDB.host=etcd.own", "global.helm.namespace=proc",
			"global.helm.prefix=sdp", "global.configDB.prefix=/test", "global.logLevel=DEBUG"}, check: func(t *testing.T, o objects) {
			for svc, d := range o.deployments {
				env := envOf(d.Spec.Template.Spec.Containers[0])
				if env["SDP_CONFIG_HOST"].Value != "etcd.global" || env["SDP_CONFIG_PREFIX"].Value != "/test" || env["SDP_LOG_LEVEL"].Value != "DEBUG" {
					t.Errorf("%s: env %v", svc, env)
				}
				if svc != "resource-monitor" && (env["SDP_HELM_NAMESPACE"].Value != "proc" || env["SDP_HELM_PREFIX"].Value != "sdp") {
					t.Errorf("%s: helm env %v", svc, env)
				}
			}
			for _, r := range o.roles {
				if r.Namespace != "proc" {
					t.Errorf("role %s in %s, want the processing namespace", r.Name, r.Namespace)
				}
			}
		}},
		{name: "JSON logs: global wins, a service's own otherwise", set: []string{"global.logFormat=json", "pod-monitor.logFormat=ska"}, check: func(t *testing.T, o objects) {
			for svc, d := range o.deployments {
				if f := envOf(d.Spec.Template.Spec.Containers[0])["SDP_LOG_FORMAT"].Value; f != "json" {
					t.Errorf("%s: SDP_LOG_FORMAT=%q, want json", svc, f)
				}
			}
		}},
		{name: "one service's JSON logs", set: []string{"resource-monitor.logFormat=json"}, check: func(t *testing.T, o objects) {
			for svc, d := range o.deployments {
				want := map[bool]string{true: "json", false: "ska"}[svc == "resource-monitor"]
				if f := envOf(d.Spec.Template.Spec.Containers[0])["SDP_LOG_FORMAT"].Value; f != want {
					t.Errorf("%s: SDP_LOG_FORMAT=%q, want %s", svc, f, want)
				}
			}
		}},
		{name: "one service's own image", set: []string{"release-manager.image.tag=v9"}, check: func(t *testing.T, o objects) {
			for svc, d := range o.deployments {
				want := fmt.Sprintf("sdp-helmdeploy/%s:0.1.0", svc)
				if svc == "release-manager" {
					want = "sdp-helmdeploy/release-manager:v9"
				}
				if img := d.Spec.Template.Spec.Containers[0].Image; img != want {
					t.Errorf("%s: image %s, want %s", svc, img, want)
				}
			}
		}},
		{name: "one service left out", set: []string{"resource-monitor.enabled=false"}, check: func(t *testing.T, o objects) {
			n := 0
			for _, cr := range o.clusterRoles {
				if cr.Labels["app.kubernetes.io/component"] == "resource-monitor" {
					n++
				}
			}
			if len(o.deployments) != 2 || o.deployments["resource-monitor"] != nil || n != 0 {
				t.Errorf("deployments %d, cluster roles of resource-monitor %d", len(o.deployments), n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := render(t, umbrella, Options{Set: c.set, APIVersions: c.apis})
			for svc := range o.deployments {
				checkDeployment(t, o, svc)
			}
			checkRBACShape(t, o)
			c.check(t, o)
		})
	}
}

// checkRBACShape: resource-monitor has cluster-wide read rights on NADs,
// release-manager on PersistentVolumes (the default allowed cluster-scoped
// kind) the verbs Helm needs, and nothing else is cluster-wide; the
// namespaced roles sit in the processing namespace. What the rights allow
// is tested against the API server.
func checkRBACShape(t *testing.T, o objects) {
	t.Helper()
	for _, cr := range o.clusterRoles {
		switch c := cr.Labels["app.kubernetes.io/component"]; c {
		case "resource-monitor":
		case "release-manager":
			if len(cr.Rules) != 1 || !slices.Equal(cr.Rules[0].APIGroups, []string{""}) || !slices.Equal(cr.Rules[0].Resources, []string{"persistentvolumes"}) ||
				!slices.Equal(cr.Rules[0].Verbs, helmVerbs) {
				t.Errorf("ClusterRole %s rules %+v, want %v on persistentvolumes only", cr.Name, cr.Rules, helmVerbs)
			}
			continue
		default:
			t.Errorf("ClusterRole %s of %s", cr.Name, c)
		}
		for _, r := range cr.Rules {
			if !slices.Equal(r.APIGroups, []string{"k8s.cni.cncf.io"}) || !slices.Equal(r.Resources, []string{"network-attachment-definitions"}) ||
				slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" }) {
				t.Errorf("ClusterRole %s rule %+v", cr.Name, r)
			}
		}
	}
	processing := ""
	for _, d := range o.deployments {
		if ns := envOf(d.Spec.Template.Spec.Containers[0])["SDP_HELM_NAMESPACE"].Value; ns != "" {
			processing = ns
		}
	}
	for _, r := range o.roles {
		if r.Namespace != processing {
			t.Errorf("Role %s in namespace %q, want the processing namespace %q", r.Name, r.Namespace, processing)
		}
	}
	for _, b := range o.roleBindings {
		if b.Namespace != processing || len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || o.serviceAccounts[b.Subjects[0].Name] == nil {
			t.Errorf("RoleBinding %s: namespace %s subjects %+v", b.Name, b.Namespace, b.Subjects)
		}
	}
}

// Values the charts refuse, with a message that says why.
func TestUmbrellaRefuses(t *testing.T) {
	cases := []struct {
		name string
		set  []string
		want string
	}{
		{"replicas without election", []string{"release-manager.replicas=2", "release-manager.leaderElection.enabled=false"}, "leaderElection"},
		{"grace not longer than the Helm timeout", []string{"release-manager.terminationGracePeriodSeconds=300"}, "terminationGracePeriodSeconds"},
		{"port not a number", []string{"global.configDB.port=notaport"}, "port"},
		{"namespace not a DNS label", []string{"global.helm.namespace=Bad_NS"}, "namespace"},
		{"unknown protocol", []string{"pod-monitor.configDB.protocol=grpc"}, "protocol"},
		{"unknown value", []string{"release-manager.replica=2"}, "replica"},
		{"unknown log format", []string{"pod-monitor.logFormat=xml"}, "logFormat"},
		{"unknown global log format", []string{"global.logFormat=text"}, "logFormat"},
		{"unknown drift mode", []string{"release-manager.drift.mode=fix"}, "mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render(chartDir(umbrella), Options{Set: c.set})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}
