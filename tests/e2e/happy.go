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
)

// Converge watches the system (Observer) until Compare finds nothing or
// timeout passes. It returns how long it took, what the first look found and what
// is left (nothing when converged). Each onChange is called, with the time
// since the start, whenever what is left changes by kind and count.
//
// The times are those of the watched view, compared again at most every
// checkEvery as changes arrive; the view is confirmed by a read of
// everything (Observe) before Converge says it converged, so a lagging
// watch can make it later but never wrong.
func (s *System) Converge(ctx context.Context, script *Script, timeout time.Duration, onChange ...func(time.Duration, []string)) (took time.Duration, first, left []string, err error) {
	const checkEvery = 100 * time.Millisecond
	t0 := time.Now()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	obs, err := Watch(wctx, s.Store, s.Kube, s.Env.HelmNamespace)
	if err != nil {
		return time.Since(t0), nil, nil, err
	}
	looked := false
	last := ""
	for {
		checked := time.Now()
		o, err := obs.Snapshot()
		if err != nil {
			return time.Since(t0), first, left, err
		}
		at := checked.Sub(t0)
		left = Compare(o, s.Env.HelmPrefix, script.Model())
		if len(left) == 0 {
			// The outer context: a confirmation is not cut short by the deadline.
			read := time.Now()
			if full, err := Observe(ctx, s.Store, s.Kube, s.Env.HelmNamespace); err != nil {
				left = []string{"unconfirmed: reading everything: " + err.Error()}
			} else {
				// The read is no snapshot: it takes the state entries first
				// and the pods last, up to a second later, so a pod the
				// cluster made meanwhile is in it while its pods map was read
				// before the pod-monitor wrote it. Pods that changed from
				// PodsMapGrace before the read on are "pods changing", as in
				// the watched view.
				full.PodsChanged, full.At = obs.PodsChanged(), read
				left = Compare(full, s.Env.HelmPrefix, script.Model())
			}
		}
		if !looked {
			first, looked = left, true
		}
		if k := fmt.Sprint(Summarise(left)); k != last {
			last = k
			for _, f := range onChange {
				f(at, left)
			}
		}
		if len(left) == 0 {
			return at, first, nil, nil
		}
		select {
		case <-obs.Changed():
		case <-time.After(time.Second):
			// Nothing changed: a confirmation that failed is tried again.
		case <-wctx.Done():
			if ctx.Err() != nil {
				return time.Since(t0), first, left, ctx.Err()
			}
			return time.Since(t0), first, left, nil
		}
		time.Sleep(time.Until(checked.Add(checkEvery)))
	}
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
