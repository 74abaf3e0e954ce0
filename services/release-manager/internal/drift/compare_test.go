package drift

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const manifestDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: receive, labels: {app: receive}}
spec:
  replicas: 1
  template:
    metadata: {labels: {app: receive}}
    spec:
      containers:
      - name: receiver
        image: receiver:1
        ports: [{containerPort: 9000}]
        resources: {limits: {cpu: 1000m, memory: 1Gi}}
      - name: sidecar
        image: side:1
`

// The live object as the API server returns it: defaults filled in,
// numbers as JSON numbers, quantities normalised, status and metadata of
// its own.
const liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: receive, labels: {app: receive, extra: by-kubectl}, annotations: {deployment.kubernetes.io/revision: "1"}}
spec:
  replicas: 1
  progressDeadlineSeconds: 600
  template:
    metadata: {labels: {app: receive}, annotations: {kubectl.kubernetes.io/restartedAt: "2026-12-05T10:00:00Z"}}
    spec:
      containers:
      - name: sidecar
        image: side:1
        imagePullPolicy: IfNotPresent
      - name: receiver
        image: receiver:1
        ports: [{containerPort: 9000, protocol: TCP}]
        resources: {limits: {cpu: "1", memory: 1Gi}}
status: {replicas: 1}
`

func TestDiff(t *testing.T) {
	hpa := []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Subresource: "scale",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}}}
	kubectl := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Subresource: "scale",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}}}
	for _, tc := range []struct {
		name    string
		want    string
		live    string
		managed []metav1.ManagedFieldsEntry
		paths   []string
	}{
		{name: "defaults, reordering, normalised quantities and others' metadata are not drift",
			want: manifestDeployment, live: liveDeployment},
		{name: "image changed by hand", want: manifestDeployment,
			live:  replace(liveDeployment, "image: receiver:1", "image: receiver:2"),
			paths: []string{"spec.template.spec.containers[name=receiver].image"}},
		{name: "scaled by hand", want: manifestDeployment, live: replace(liveDeployment, "replicas: 1\n  progress", "replicas: 3\n  progress"),
			managed: kubectl, paths: []string{"spec.replicas"}},
		{name: "scaled by an HPA", want: manifestDeployment, live: replace(liveDeployment, "replicas: 1\n  progress", "replicas: 3\n  progress"),
			managed: hpa},
		{name: "container removed", want: manifestDeployment,
			live:  replace(liveDeployment, "      - name: sidecar\n        image: side:1\n        imagePullPolicy: IfNotPresent\n", ""),
			paths: []string{"spec.template.spec.containers[name=sidecar]"}},
		{name: "limit changed", want: manifestDeployment, live: replace(liveDeployment, `cpu: "1"`, `cpu: "2"`),
			paths: []string{"spec.template.spec.containers[name=receiver].resources.limits.cpu"}},
		{name: "config map data", want: "kind: ConfigMap\ndata: {a: x, b: y}\n", live: "kind: ConfigMap\ndata: {a: x, b: z, c: extra}\n",
			paths: []string{"data.b"}},
		{name: "secret stringData compares with data", want: "kind: Secret\nstringData: {a: x}\n", live: "kind: Secret\ndata: {a: eA==}\n"},
		{name: "secret changed", want: "kind: Secret\nstringData: {a: x}\n", live: "kind: Secret\ndata: {a: eQ==}\n", paths: []string{"data.a"}},
		{name: "int-or-string port", want: "kind: Service\nspec: {ports: [{port: 80, targetPort: 8080}]}\n",
			live: "kind: Service\nspec: {clusterIP: 10.0.0.1, ports: [{port: 80, targetPort: 8080, protocol: TCP}]}\n"},
		{name: "unkeyed list by position", want: "kind: X\nspec: {args: [a, b]}\n", live: "kind: X\nspec: {args: [a, c]}\n",
			paths: []string{"spec.args[1]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n := Diff(obj(t, tc.want), obj(t, tc.live), tc.managed)
			if !slices.Equal(got, tc.paths) || n != len(tc.paths) {
				t.Errorf("Diff = %q (%d), want %q", got, n, tc.paths)
			}
		})
	}
}

func TestDiffBoundsPaths(t *testing.T) {
	got, n := Diff(obj(t, "kind: ConfigMap\ndata: {a: '1', b: '2', c: '3', d: '4', e: '5', f: '6'}\n"), obj(t, "kind: ConfigMap\ndata: {}\n"), nil)
	if n != 6 || len(got) != maxFields {
		t.Errorf("Diff = %q (%d), want %d paths of 6", got, n, maxFields)
	}
}

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("no " + old)
	}
	return strings.Replace(s, old, new, 1)
}
