package readiness

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/drift"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

var (
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	jobs        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	configMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

func object(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	// As the API server's JSON decodes: integers as int64.
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

const availableDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: ns, generation: 1}
spec: {replicas: 1}
status:
  observedGeneration: 1
  replicas: 1
  updatedReplicas: 1
  readyReplicas: 1
  availableReplicas: 1
  conditions: [{type: Available, status: "True"}, {type: Progressing, status: "True", reason: NewReplicaSetAvailable}]
`

const startingDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: ns, generation: 1}
spec: {replicas: 2}
status: {observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1}
`

const failedJob = `
apiVersion: batch/v1
kind: Job
metadata: {name: j, namespace: ns, generation: 1}
spec: {completions: 1}
status:
  failed: 1
  conditions: [{type: Failed, status: "True", reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]
`

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objects []string
		refs    []drift.Object
		state   string
		reason  string // a prefix
	}{
		{"available deployment and a config map", []string{availableDeployment},
			[]drift.Object{{GVR: deployments, Kind: "Deployment", Name: "d"}, {GVR: configMaps, Kind: "ConfigMap", Name: "c"}},
			configdb.ReadinessReady, ""},
		{"deployment short of replicas", []string{startingDeployment},
			[]drift.Object{{GVR: deployments, Kind: "Deployment", Name: "d"}}, configdb.ReadinessNotReady, "Deployment d: "},
		{"deployment missing", nil,
			[]drift.Object{{GVR: deployments, Kind: "Deployment", Name: "d"}}, configdb.ReadinessNotReady, "Deployment d: not found"},
		{"a failed job outranks one not ready", []string{startingDeployment, failedJob},
			[]drift.Object{{GVR: deployments, Kind: "Deployment", Name: "d"}, {GVR: jobs, Kind: "Job", Name: "j"}},
			configdb.ReadinessFailed, "Job j: Job Failed. failed: 1/1 (BackoffLimitExceeded: Job has reached the specified backoff limit)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, s := range tc.objects {
				objs = append(objs, object(t, s))
			}
			client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
				deployments: "DeploymentList", jobs: "JobList", configMaps: "ConfigMapList"}, objs...)
			res, err := Of(context.Background(), client, "ns", tc.refs)
			if err != nil {
				t.Fatal(err)
			}
			if res.State != tc.state || !strings.HasPrefix(res.Reason, tc.reason) || (tc.reason == "") != (res.Reason == "") {
				t.Errorf("Of = %+v, want %s with a reason starting %q", res, tc.state, tc.reason)
			}
			t.Logf("%s: %s", res.State, res.Reason)
		})
	}
}
