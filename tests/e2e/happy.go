package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// Converge observes the system until Compare finds nothing or timeout
// passes. It returns how long it took, what the first look found and what
// is left (nothing when converged). Each onChange is called, with the time
// since the start, whenever what is left changes by kind and count.
func (s *System) Converge(ctx context.Context, script *Script, timeout time.Duration, onChange ...func(time.Duration, []string)) (took time.Duration, first, left []string, err error) {
	t0 := time.Now()
	looked := false
	last := ""
	var oerr error
	perr := eventually.Poll(ctx, timeout, 250*time.Millisecond, func(context.Context) error {
		// The outer context: an observation is not cut short by the deadline.
		var o Observed
		if o, oerr = Observe(ctx, s.Store, s.Kube, s.Env.HelmNamespace); oerr != nil {
			return oerr
		}
		left = Compare(o, s.Env.HelmPrefix, script.Model())
		if !looked {
			first, looked = left, true
		}
		if k := fmt.Sprint(Summarise(left)); k != last {
			last = k
			for _, f := range onChange {
				f(time.Since(t0), left)
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("%d mismatches left", len(left))
		}
		return nil
	})
	took = time.Since(t0)
	switch {
	case perr == nil:
		return took, first, nil, nil
	case ctx.Err() != nil:
		return took, first, left, ctx.Err()
	case !looked:
		return took, nil, nil, oerr
	}
	return took, first, left, nil
}

// Summarise counts Compare's mismatches by kind.
func Summarise(mismatches []string) map[string]int {
	kinds := map[string]int{}
	for _, m := range mismatches {
		kind, _, _ := strings.Cut(m, ": ")
		kinds[kind]++
	}
	return kinds
}

// Deployed is the condition "release deployed at revision rev with n pods
// RUNNING" on a state entry.
func Deployed(rev, n int) func(RawState, bool) bool {
	return func(st RawState, found bool) bool {
		if !found || st.Release == nil || st.Release.Status != release.StatusDeployed.String() || st.Release.Revision != rev {
			return false
		}
		running := 0
		for _, s := range st.Pods {
			if s == string(configdb.PodRunning) {
				running++
			}
		}
		return running == n && len(st.Pods) == n
	}
}

// Gone is the condition "no state entry".
func Gone(_ RawState, found bool) bool { return !found }

// nadGVR is the NetworkAttachmentDefinition resource.
var nadGVR = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}

// NAD is a NetworkAttachmentDefinition of a macvlan network with
// whereabouts IPAM, labelled for allocation when supernet is not "".
func NAD(namespace, name, supernet, subnet string, vlan int) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1",
		"kind":       "NetworkAttachmentDefinition",
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec": map[string]any{"config": fmt.Sprintf(`{"cniVersion": "0.3.1", "name": %q, "type": "macvlan", "master": "eth1", "vlan": %d,
  "ipam": {"type": "whereabouts", "range": %q}}`, name, vlan, subnet)},
	}}
	if supernet != "" {
		u.SetLabels(map[string]string{"sdp.skao.int/available-for-allocation": "true", "sdp.skao.int/supernet": supernet})
	}
	return u
}

// CreateNAD creates a NetworkAttachmentDefinition.
func (s *System) CreateNAD(ctx context.Context, u *unstructured.Unstructured) error {
	dyn, err := dynamic.NewForConfig(s.CP.RESTConfig())
	if err != nil {
		return err
	}
	_, err = dyn.Resource(nadGVR).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
	return err
}

// DeleteNAD deletes a NetworkAttachmentDefinition.
func (s *System) DeleteNAD(ctx context.Context, namespace, name string) error {
	dyn, err := dynamic.NewForConfig(s.CP.RESTConfig())
	if err != nil {
		return err
	}
	return dyn.Resource(nadGVR).Namespace(namespace).Delete(ctx, name, metav1.DeleteOptions{})
}
