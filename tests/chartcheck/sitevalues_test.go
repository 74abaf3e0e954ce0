package chartcheck

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
)

// The values a real site and a one-machine node need: the config DB's TLS
// (CA, client identity, skip-verify), extra volumes, the node's network
// and an explicit API server, in the umbrella chart (through global and
// per service) and in a service chart alone.

// secretFile says which Secret and key the file at path comes from: the
// container must mount a secret volume read-only over it.
func secretFile(pod corev1.PodSpec, c corev1.Container, path string) (secret, key string, ok bool) {
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/") + "/"
		v := volume(pod, m.Name)
		if v == nil || v.Secret == nil || !m.ReadOnly || !strings.HasPrefix(path, dir) {
			continue
		}
		return v.Secret.SecretName, strings.TrimPrefix(path, dir), true
	}
	return "", "", false
}

// tlsEnv checks the TLS settings of a service: for each of
// SDP_CONFIG_CERT and SDP_CONFIG_CA, the key of secret it must come from
// ("" when it must not be set), and the skip-verify setting.
func tlsEnv(t *testing.T, d *appsv1.Deployment, secret, identityKey, caKey string, skip bool) {
	t.Helper()
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	env := envOf(c)
	svc := c.Name
	if p := env["SDP_CONFIG_PROTOCOL"].Value; p != "https" {
		t.Errorf("%s: SDP_CONFIG_PROTOCOL=%q, want https", svc, p)
	}
	for name, wantKey := range map[string]string{"SDP_CONFIG_CERT": identityKey, "SDP_CONFIG_CA": caKey} {
		e, set := env[name]
		if wantKey == "" {
			if set {
				t.Errorf("%s: %s=%q set, want it unset", svc, name, e.Value)
			}
			continue
		}
		s, k, ok := secretFile(pod, c, e.Value)
		if !ok || s != secret || k != wantKey {
			t.Errorf("%s: %s=%q is secret %q key %q (mounted: %t), want secret %q key %q", svc, name, e.Value, s, k, ok, secret, wantKey)
		}
	}
	e, set := env["SDP_CONFIG_INSECURE_SKIP_VERIFY"]
	if set != skip || (skip && e.Value != "true") {
		t.Errorf("%s: SDP_CONFIG_INSECURE_SKIP_VERIFY=%q (set: %t), want set to true: %t", svc, e.Value, set, skip)
	}
}

// apiEnv checks KUBERNETES_SERVICE_HOST and _PORT ("" when not set).
func apiEnv(t *testing.T, d *appsv1.Deployment, host, port string) {
	t.Helper()
	env := envOf(d.Spec.Template.Spec.Containers[0])
	for name, want := range map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port} {
		e, set := env[name]
		if set != (want != "") || e.Value != want {
			t.Errorf("%s: %s=%q (set: %t), want %q", d.Name, name, e.Value, set, want)
		}
	}
}

// onHostNetwork checks the pod is on the node's network, or not, with what
// goes with it.
func onHostNetwork(t *testing.T, d *appsv1.Deployment, want bool) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if pod.HostNetwork != want {
		t.Errorf("%s: hostNetwork %t, want %t", d.Name, pod.HostNetwork, want)
	}
	wantDNS := corev1.DNSPolicy("")
	if want {
		wantDNS = corev1.DNSClusterFirstWithHostNet
	}
	if pod.DNSPolicy != wantDNS {
		t.Errorf("%s: dnsPolicy %q, want %q", d.Name, pod.DNSPolicy, wantDNS)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if want {
		// The new pod cannot start beside the old one on one node.
		if ru == nil || ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 0 || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 1 {
			t.Errorf("%s: strategy %+v, want maxSurge 0, maxUnavailable 1", d.Name, d.Spec.Strategy)
		}
	} else if d.Spec.Strategy.Type != "" || ru != nil {
		t.Errorf("%s: strategy %+v, want the default", d.Name, d.Spec.Strategy)
	}
	aff := d.Spec.Template.Spec.Affinity
	if *d.Spec.Replicas > 1 && (aff == nil || aff.PodAntiAffinity == nil) {
		t.Errorf("%s: %d replicas and no anti-affinity", d.Name, *d.Spec.Replicas)
	} else if *d.Spec.Replicas > 1 {
		required := aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		preferred := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
		if want && (len(required) != 1 || len(preferred) != 0 || required[0].TopologyKey != "kubernetes.io/hostname" ||
			!maps.Equal(required[0].LabelSelector.MatchLabels, d.Spec.Selector.MatchLabels)) {
			t.Errorf("%s: anti-affinity %+v, want one required term per node over its own pods", d.Name, aff.PodAntiAffinity)
		}
		if !want && (len(required) != 0 || len(preferred) != 1) {
			t.Errorf("%s: anti-affinity %+v, want one preferred term", d.Name, aff.PodAntiAffinity)
		}
	}
}

func TestRenderSiteValues(t *testing.T) {
	type deps = map[string]*appsv1.Deployment
	cases := []struct {
		name      string
		chart     string // default: the umbrella
		set       []string
		setString []string // --set-string
		check     func(t *testing.T, d deps)
	}{
		{name: "defaults: none of it", check: func(t *testing.T, d deps) {
			for _, dep := range d {
				env := envOf(dep.Spec.Template.Spec.Containers[0])
				for _, name := range []string{"SDP_CONFIG_CERT", "SDP_CONFIG_CA", "SDP_CONFIG_INSECURE_SKIP_VERIFY"} {
					if e, ok := env[name]; ok {
						t.Errorf("%s: %s=%q set by default", dep.Name, name, e.Value)
					}
				}
				apiEnv(t, dep, "", "")
				onHostNetwork(t, dep, false)
				if n := len(dep.Spec.Template.Spec.Volumes); n != 1 {
					t.Errorf("%s: %d volumes by default, want /tmp only", dep.Name, n)
				}
			}
		}},
		{name: "CA only, as before: the default key ca.crt", set: []string{"global.configDB.tls.secretName=etcd-ca"}, check: func(t *testing.T, d deps) {
			for _, dep := range d {
				tlsEnv(t, dep, "etcd-ca", "", "ca.crt", false)
			}
		}},
		{name: "client identity and CA", set: []string{"global.configDB.tls.secretName=etcd-client", "global.configDB.tls.identityKey=client.pem",
			"global.configDB.tls.caKey=ca.pem"}, check: func(t *testing.T, d deps) {
			for _, dep := range d {
				tlsEnv(t, dep, "etcd-client", "client.pem", "ca.pem", false)
			}
		}},
		{name: "client identity with the default CA key", set: []string{"global.configDB.tls.secretName=etcd-client", "global.configDB.tls.identityKey=client.pem"},
			check: func(t *testing.T, d deps) {
				for _, dep := range d {
					tlsEnv(t, dep, "etcd-client", "client.pem", "ca.crt", false)
				}
			}},
		{name: "Python-style: identity, no CA, skip verify; an empty global caKey wins over the charts' ca.crt",
			set: []string{"global.configDB.tls.secretName=etcd-client", "global.configDB.tls.identityKey=client.pem", "global.configDB.tls.caKey=",
				"global.configDB.tls.insecureSkipVerify=true"}, check: func(t *testing.T, d deps) {
				for _, dep := range d {
					tlsEnv(t, dep, "etcd-client", "client.pem", "", true)
				}
			}},
		{name: "a false global insecureSkipVerify wins over a service's true", set: []string{"pod-monitor.configDB.tls.insecureSkipVerify=true",
			"global.configDB.tls.insecureSkipVerify=false", "global.configDB.tls.secretName=etcd-ca"}, check: func(t *testing.T, d deps) {
			for _, dep := range d {
				tlsEnv(t, dep, "etcd-ca", "", "ca.crt", false)
			}
		}},
		{name: "skip verify alone: https, nothing mounted", set: []string{"global.configDB.tls.insecureSkipVerify=true"}, check: func(t *testing.T, d deps) {
			for _, dep := range d {
				tlsEnv(t, dep, "", "", "", true)
				if volume(dep.Spec.Template.Spec, "config-db-tls") != nil {
					t.Errorf("%s: a TLS volume with no Secret", dep.Name)
				}
			}
		}},
		{name: "one service's own TLS", set: []string{"release-manager.configDB.tls.secretName=rm-etcd", "release-manager.configDB.tls.identityKey=id.pem"},
			check: func(t *testing.T, d deps) {
				tlsEnv(t, d["release-manager"], "rm-etcd", "id.pem", "ca.crt", false)
				for _, svc := range []string{"pod-monitor", "resource-monitor"} {
					if p := envOf(d[svc].Spec.Template.Spec.Containers[0])["SDP_CONFIG_PROTOCOL"].Value; p != "http" {
						t.Errorf("%s: protocol %q", svc, p)
					}
				}
			}},
		{name: "service chart alone: identity and CA", chart: "pod-monitor", set: []string{"configDB.tls.secretName=etcd-client", "configDB.tls.identityKey=tls.pem",
			"configDB.tls.caKey=ca.pem"}, check: func(t *testing.T, d deps) {
			tlsEnv(t, d["pod-monitor"], "etcd-client", "tls.pem", "ca.pem", false)
		}},
		{name: "extra volumes: a repositories.yaml for the release-manager", set: []string{
			"release-manager.extraVolumes[0].name=helm-repositories", "release-manager.extraVolumes[0].configMap.name=helm-repos",
			"release-manager.extraVolumeMounts[0].name=helm-repositories", "release-manager.extraVolumeMounts[0].mountPath=/etc/helm",
			"release-manager.extraVolumeMounts[0].readOnly=true",
			"release-manager.extraEnv[0].name=HELM_REPOSITORY_CONFIG", "release-manager.extraEnv[0].value=/etc/helm/repositories.yaml",
			"global.configDB.tls.secretName=etcd-ca",
		}, check: func(t *testing.T, d deps) {
			pod := d["release-manager"].Spec.Template.Spec
			c := pod.Containers[0]
			v := volume(pod, "helm-repositories")
			if v == nil || v.ConfigMap == nil || v.ConfigMap.Name != "helm-repos" {
				t.Errorf("release-manager: volume %+v, want ConfigMap helm-repos", v)
			}
			i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "helm-repositories" })
			if i < 0 || c.VolumeMounts[i].MountPath != "/etc/helm" || !c.VolumeMounts[i].ReadOnly {
				t.Errorf("release-manager: mounts %+v, want helm-repositories read-only at /etc/helm", c.VolumeMounts)
			}
			if e := envOf(c)["HELM_REPOSITORY_CONFIG"].Value; e != "/etc/helm/repositories.yaml" {
				t.Errorf("release-manager: HELM_REPOSITORY_CONFIG=%q", e)
			}
			// The chart's own volumes stay.
			for _, name := range []string{"tmp", "config-db-tls"} {
				if volume(pod, name) == nil {
					t.Errorf("release-manager: volume %s gone beside the extra one", name)
				}
			}
			for _, svc := range []string{"pod-monitor", "resource-monitor"} {
				if volume(d[svc].Spec.Template.Spec, "helm-repositories") != nil {
					t.Errorf("%s got the release-manager's extra volume", svc)
				}
			}
		}},
		{name: "service chart alone: extra volumes", chart: "resource-monitor", set: []string{
			"extraVolumes[0].name=extra", "extraVolumes[0].emptyDir.medium=Memory",
			"extraVolumeMounts[0].name=extra", "extraVolumeMounts[0].mountPath=/var/extra",
		}, check: func(t *testing.T, d deps) {
			pod := d["resource-monitor"].Spec.Template.Spec
			if v := volume(pod, "extra"); v == nil || v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory {
				t.Errorf("volume %+v", v)
			}
			if !slices.ContainsFunc(pod.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "extra" && m.MountPath == "/var/extra" }) {
				t.Errorf("mounts %+v", pod.Containers[0].VolumeMounts)
			}
		}},
		{name: "one node on loopback: global hostNetwork and API server, ports apart, two replicas", set: []string{
			"global.hostNetwork=true", "global.apiServer.host=127.0.0.1", "global.apiServer.port=6443",
			"release-manager.httpPort=8080", "pod-monitor.httpPort=8081", "resource-monitor.httpPort=8082",
			"release-manager.replicas=2", "pod-monitor.replicas=2",
		}, check: func(t *testing.T, d deps) {
			for svc, dep := range d {
				onHostNetwork(t, dep, true)
				apiEnv(t, dep, "127.0.0.1", "6443")
				if a := envOf(dep.Spec.Template.Spec.Containers[0])["SDP_HTTP_ADDR"].Value; a != map[string]string{"release-manager": ":8080", "pod-monitor": ":8081", "resource-monitor": ":8082"}[svc] {
					t.Errorf("%s: SDP_HTTP_ADDR=%q", svc, a)
				}
			}
		}},
		{name: "API server port given as a string, a service's own host under global's port", set: []string{"release-manager.apiServer.host=::1"},
			setString: []string{"global.apiServer.port=6443"}, check: func(t *testing.T, d deps) {
				apiEnv(t, d["release-manager"], "::1", "6443")
				apiEnv(t, d["pod-monitor"], "", "6443")
			}},
		{name: "global API server host wins over a service's", set: []string{"pod-monitor.apiServer.host=10.0.0.1", "global.apiServer.host=127.0.0.1"},
			check: func(t *testing.T, d deps) {
				for _, dep := range d {
					apiEnv(t, dep, "127.0.0.1", "")
				}
			}},
		{name: "one service on the node's network may share a port with the others", set: []string{"resource-monitor.hostNetwork=true", "release-manager.replicas=2"},
			check: func(t *testing.T, d deps) {
				for svc, dep := range d {
					onHostNetwork(t, dep, svc == "resource-monitor")
				}
			}},
		{name: "a disabled service does not count for the ports", set: []string{"global.hostNetwork=true", "pod-monitor.httpPort=8081", "resource-monitor.enabled=false"},
			check: func(t *testing.T, d deps) {
				if len(d) != 2 {
					t.Errorf("%d deployments", len(d))
				}
				for _, dep := range d {
					onHostNetwork(t, dep, true)
				}
			}},
		{name: "service chart alone: hostNetwork and API server", chart: "release-manager", set: []string{"hostNetwork=true", "apiServer.host=127.0.0.1", "apiServer.port=6443", "replicas=3"},
			check: func(t *testing.T, d deps) {
				onHostNetwork(t, d["release-manager"], true)
				apiEnv(t, d["release-manager"], "127.0.0.1", "6443")
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chart := c.chart
			if chart == "" {
				chart = umbrella
			}
			o := render(t, chart, Options{Set: c.set, SetString: c.setString})
			for svc := range o.deployments {
				checkDeployment(t, o, svc)
			}
			c.check(t, o.deployments)
		})
	}
}

// Values refused, by the schemas or the templates, with a message naming
// what is wrong.
func TestValuesRefused(t *testing.T) {
	cases := []struct {
		name  string
		chart string // default: the umbrella
		set   []string
		want  []string
	}{
		{"global hostNetwork with the default ports", "", []string{"global.hostNetwork=true"}, []string{"hostNetwork", "port 8080", "httpPort"}},
		{"two services on the node's network on one port", "", []string{"release-manager.hostNetwork=true", "pod-monitor.hostNetwork=true",
			"pod-monitor.httpPort=9000", "release-manager.httpPort=9000"}, []string{"release-manager and pod-monitor", "port 9000"}},
		{"the third service on the port of the first", "", []string{"global.hostNetwork=true", "pod-monitor.httpPort=8081"}, []string{"release-manager and resource-monitor", "port 8080"}},
		{"TLS with protocol http", "", []string{"global.configDB.protocol=http", "global.configDB.tls.secretName=etcd-ca"}, []string{"protocol", "https"}},
		{"skip verify with protocol http", "pod-monitor", []string{"configDB.protocol=http", "configDB.tls.insecureSkipVerify=true"}, []string{"protocol"}},
		{"identity with no Secret", "", []string{"global.configDB.tls.identityKey=client.pem"}, []string{"identityKey", "secretName"}},
		{"a Secret naming no file", "resource-monitor", []string{"configDB.tls.secretName=etcd", "configDB.tls.caKey="}, []string{"caKey", "identityKey"}},
		{"an extra volume named as the chart's", "", []string{"release-manager.extraVolumes[0].name=tmp", "release-manager.extraVolumes[0].emptyDir.medium=Memory"},
			[]string{"extraVolumes", `"tmp"`}},
		// The schemas.
		{"a cert and a key apart", "", []string{"global.configDB.tls.certKey=tls.crt"}, []string{"'certKey' not allowed"}},
		{"a key apart, in a service", "release-manager", []string{"configDB.tls.keyKey=tls.key"}, []string{"'keyKey' not allowed"}},
		{"a Secret key with a slash", "", []string{"global.configDB.tls.identityKey=../client.pem"}, []string{"/global/configDB/tls/identityKey", "pattern"}},
		{"skip verify not a boolean", "pod-monitor", []string{"configDB.tls.insecureSkipVerify=yes"}, []string{"/configDB/tls/insecureSkipVerify", "want boolean"}},
		{"hostNetwork not a boolean", "", []string{"global.hostNetwork=on"}, []string{"/global/hostNetwork", "want boolean"}},
		{"API server port out of range", "", []string{"global.apiServer.port=70000"}, []string{"/global/apiServer/port", "maximum"}},
		{"API server port not a number", "resource-monitor", []string{"apiServer.port=https"}, []string{"/apiServer/port", "pattern"}},
		{"API server host a URL", "", []string{"global.apiServer.host=https://127.0.0.1"}, []string{"/global/apiServer/host", "pattern"}},
		{"unknown API server value", "", []string{"pod-monitor.apiServer.url=x"}, []string{"'url' not allowed"}},
		{"a mount with no path", "", []string{"release-manager.extraVolumeMounts[0].name=x"}, []string{"missing property 'mountPath'"}},
		{"a volume with no name", "pod-monitor", []string{"extraVolumes[0].emptyDir.medium=Memory"}, []string{"missing property 'name'"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chart := c.chart
			if chart == "" {
				chart = umbrella
			}
			_, err := Render(chartDir(chart), Options{Set: c.set})
			if err == nil {
				t.Fatalf("rendered; want an error naming %q", c.want)
			}
			t.Logf("refused: %v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// What the chart renders for the config DB's TLS connects to an etcd that
// asks for a client certificate, given the Secret's files where the pod
// mounts them: a Python-style identity PEM (key, then certificate) with the
// CA, or with skip-verify. Without either, or with the identity named as
// the CA, etcd's certificate is refused ("unknown authority"), as it was
// when the chart could only point SDP_CONFIG_CERT at one file.
func TestRenderedTLSReachesEtcd(t *testing.T) {
	pki := etcdserver.NewPKI(t)
	etcd := etcdtest.Start(t, etcdserver.WithClientTLS(pki.ServerCert, pki.ServerKey), etcdserver.WithClientCertAuth(pki.CA))
	// The Secret's files as the kubelet mounts them: one file per key.
	secret := t.TempDir()
	for key, from := range map[string]string{"client.pem": pki.ClientPair, "ca.crt": pki.CA} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(secret, key), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		set     []string
		refused string // "": connects
	}{
		{"identity and CA", []string{"configDB.tls.identityKey=client.pem"}, ""},
		{"identity, skip verify", []string{"configDB.tls.identityKey=client.pem", "configDB.tls.caKey=", "configDB.tls.insecureSkipVerify=true"}, ""},
		{"identity alone", []string{"configDB.tls.identityKey=client.pem", "configDB.tls.caKey="}, "unknown authority"},
		{"identity given as the CA", []string{"configDB.tls.caKey=client.pem"}, "unknown authority"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := append([]string{"configDB.host=127.0.0.1", "configDB.port=" + strconv.Itoa(etcd.Port), "configDB.tls.secretName=etcd-client"}, c.set...)
			o := render(t, "pod-monitor", Options{Set: set})
			pod := o.deployments["pod-monitor"].Spec.Template.Spec
			ctr := pod.Containers[0]
			env := envOf(ctr)
			lookup := func(name string) (string, bool) {
				e, ok := env[name]
				if !ok || e.ValueFrom != nil {
					return "", false
				}
				if name == "SDP_CONFIG_CERT" || name == "SDP_CONFIG_CA" {
					s, key, mounted := secretFile(pod, ctr, e.Value)
					if !mounted || s != "etcd-client" {
						t.Fatalf("%s=%s is not in the mounted Secret", name, e.Value)
					}
					return filepath.Join(secret, key), true
				}
				return e.Value, true
			}
			se, err := settings.Parse(lookup)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tlsErr := settings.CheckTLS(ctx, se)
			if c.refused != "" {
				if tlsErr == nil || !strings.Contains(tlsErr.Error(), c.refused) {
					t.Errorf("TLS check said %v, want %q", tlsErr, c.refused)
				}
				return
			}
			if tlsErr != nil {
				t.Fatal(tlsErr)
			}
			client, err := settings.NewClient(se)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			// etcd asks for the client certificate: a write goes through
			// only with the identity.
			if _, err := client.Put(ctx, "/chartcheck/tls", c.name); err != nil {
				t.Fatalf("put over the rendered TLS settings: %v", err)
			}
		})
	}
}
