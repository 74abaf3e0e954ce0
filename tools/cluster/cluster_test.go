//go:build linux

package cluster

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
)

// The values the cluster installs the umbrella chart with render, checked
// by the charts' schemas, into Deployments that run on the real nodes'
// host network with the ports and the API server the nodes forward.
func TestUmbrellaValuesRender(t *testing.T) {
	cp := &localcp.ControlPlane{APIServerURL: "https://127.0.0.1:6443", EtcdEndpoint: "http://127.0.0.1:2379"}
	ch, err := loader.Load(filepath.Join("..", "..", "charts", "sdp-helmdeploy"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &action.Configuration{
		Releases: storage.Init(driver.NewMemory()), KubeClient: &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities, Log: func(string, ...any) {},
	}
	in := action.NewInstall(cfg)
	in.DryRun, in.ClientOnly, in.ReleaseName, in.Namespace = true, true, ReleaseName, SystemNS
	rel, err := in.Run(ch, UmbrellaValues(cp, "http://127.0.0.1:8879", 2))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		if !strings.Contains(doc, "kind: Deployment") {
			continue
		}
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatal(err)
		}
		spec := d.Spec.Template.Spec
		c := spec.Containers[0]
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		for _, s := range Services {
			if c.Name != s.Name {
				continue
			}
			seen[s.Name] = true
			if !spec.HostNetwork || *d.Spec.Replicas != 2 || c.ImagePullPolicy != "Never" || c.Image != Image(s.Name) {
				t.Errorf("%s: hostNetwork %v, replicas %d, image %s (%s); want host network, 2, %s never pulled",
					s.Name, spec.HostNetwork, *d.Spec.Replicas, c.Image, c.ImagePullPolicy, Image(s.Name))
			}
			if env["KUBERNETES_SERVICE_HOST"] != "127.0.0.1" || env["KUBERNETES_SERVICE_PORT"] != "6443" ||
				env["SDP_CONFIG_HOST"] != "127.0.0.1" || env["SDP_CONFIG_PORT"] != "2379" {
				t.Errorf("%s: env %v, want the API server and the config DB on loopback", s.Name, env)
			}
			if len(c.Ports) != 1 || int(c.Ports[0].ContainerPort) != s.Port {
				t.Errorf("%s: ports %+v, want %d", s.Name, c.Ports, s.Port)
			}
			if spec.NodeSelector[localcp.RealNodeLabel] != localcp.RealNodeLabelValue {
				t.Errorf("%s: node selector %v, want the real nodes", s.Name, spec.NodeSelector)
			}
		}
	}
	if len(seen) != len(Services) {
		t.Errorf("Deployments of %v rendered, want all of %v", seen, Services)
	}
}
