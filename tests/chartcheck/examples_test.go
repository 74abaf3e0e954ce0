package chartcheck

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The demo-receive example runs the receiver image (testkit/cmd/sdp-receiver)
// with its flags from values; the tests that install it on the simulated
// node use its defaults, those on the real test node set the rest.
func TestDemoReceive(t *testing.T) {
	dir := filepath.Join(ChartsDir(), "examples", "demo-receive")
	for _, tc := range []struct {
		name      string
		set       []string
		image     string
		pull      corev1.PullPolicy
		args      []string
		probePort string
		memLimit  string
		node      map[string]string
		tolerate  int
	}{
		{name: "defaults", image: "sdp-helmdeploy/receiver:latest", pull: corev1.PullIfNotPresent,
			args:      []string{"--port=9000", "--ready-after=0s", "--exit-after=0s", "--exit-code=0", "--alloc-mib=0"},
			probePort: "9000"},
		{name: "the e2e tests' values", set: []string{"replicas=2", "receiver.port=9101"},
			image: "sdp-helmdeploy/receiver:latest", pull: corev1.PullIfNotPresent,
			args:      []string{"--port=9101", "--ready-after=0s", "--exit-after=0s", "--exit-code=0", "--alloc-mib=0"},
			probePort: "9101"},
		{name: "on the real node, OOM-killed",
			set: []string{"image=sdp-helmdeploy/receiver:abc1234", "imagePullPolicy=Never",
				"receiver.readyAfter=1.5s", "receiver.exitAfter=30", "receiver.exitCode=3", "receiver.allocMiB=64",
				"resources.limits.memory=32Mi", "nodeSelector.kubernetes\\.io/hostname=node-1",
				"tolerations[0].key=sdp/real", "tolerations[0].operator=Exists", "tolerations[0].effect=NoSchedule"},
			image: "sdp-helmdeploy/receiver:abc1234", pull: corev1.PullNever,
			args:      []string{"--port=9000", "--ready-after=1.5s", "--exit-after=30s", "--exit-code=3", "--alloc-mib=64"},
			probePort: "9000", memLimit: "32Mi", node: map[string]string{"kubernetes.io/hostname": "node-1"}, tolerate: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := Values(tc.set...)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range lint.All(dir, vals, "sdp", true).Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %s", m)
				}
			}
			r, err := Render(dir, Options{Release: "sdp-x", Namespace: "sdp", Set: tc.set})
			if err != nil {
				t.Fatal(err)
			}
			var deps []*appsv1.Deployment
			for _, o := range r.Objects {
				if d, ok := o.(*appsv1.Deployment); ok {
					deps = append(deps, d)
				}
			}
			if len(r.Objects) != 1 || len(deps) != 1 {
				t.Fatalf("rendered %d objects, want one Deployment", len(r.Objects))
			}
			spec := deps[0].Spec.Template.Spec
			c := spec.Containers[0]
			if c.Image != tc.image || c.ImagePullPolicy != tc.pull {
				t.Errorf("image %s pull %s, want %s %s", c.Image, c.ImagePullPolicy, tc.image, tc.pull)
			}
			if !slices.Equal(c.Args, tc.args) {
				t.Errorf("args %q, want %q", c.Args, tc.args)
			}
			p := c.ReadinessProbe
			if p == nil || p.Exec == nil || p.HTTPGet != nil {
				t.Fatalf("readiness probe %+v, want an exec probe", p)
			}
			if got, want := strings.Join(p.Exec.Command, " "), "/sdp-receiver probe --port="+tc.probePort; got != want {
				t.Errorf("probe command %q, want %q", got, want)
			}
			if got := c.Resources.Limits.Memory(); tc.memLimit == "" && !got.IsZero() || tc.memLimit != "" && got.Cmp(resource.MustParse(tc.memLimit)) != 0 {
				t.Errorf("memory limit %v, want %q", got, tc.memLimit)
			}
			if len(spec.NodeSelector) != len(tc.node) || (tc.node != nil && spec.NodeSelector["kubernetes.io/hostname"] != tc.node["kubernetes.io/hostname"]) {
				t.Errorf("node selector %v, want %v", spec.NodeSelector, tc.node)
			}
			if len(spec.Tolerations) != tc.tolerate {
				t.Errorf("tolerations %v, want %d", spec.Tolerations, tc.tolerate)
			}
		})
	}
}
