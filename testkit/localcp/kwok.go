//go:build unix

package localcp

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kwokStages is kwok's --config: the Stage definitions that play the kubelet.
// Taken from kwok v0.8.0's kustomize/stage/{node/fast,node/heartbeat-with-lease,pod/fast}:
// nodes become Ready at once, pods go Pending → Running with Ready=True at
// once, pods owned by a Job then go to Succeeded, and pods being deleted are
// removed (as a kubelet would confirm).
//
//go:embed kwok-stages.yaml
var kwokStages []byte

func (cp *ControlPlane) startKwok(ctx context.Context, bin string, cs kubernetes.Interface) error {
	dir := filepath.Join(cp.Dir, "kwok")
	home := filepath.Join(dir, "home") // kwok also loads ~/.kwok/kwok.yaml: keep it away from the user's
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "stages.yaml")
	if err := os.WriteFile(cfg, kwokStages, 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "HOME="+home)
	// No --server-address and no --node-port: kwok then serves nothing.
	p, err := cp.spawn("kwok", bin, []string{
		"--kubeconfig=" + cp.KubeconfigPath,
		"--config=" + cfg,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=fake",
		"--node-lease-duration-seconds=40",
		"--cidr=" + PodCIDR,
	}, env)
	if err != nil {
		return err
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        KwokNodeName,
			Annotations: map[string]string{KwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": KwokNodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Status: corev1.NodeStatus{
			Allocatable: fakeNodeResources(),
			Capacity:    fakeNodeResources(),
		},
	}
	if err := ensureNode(ctx, cs, node); err != nil {
		return fmt.Errorf("create node %s: %w", KwokNodeName, err)
	}
	return p.WaitFor(ctx, "node "+KwokNodeName+" Ready", func(ctx context.Context) error {
		n, err := cs.CoreV1().Nodes().Get(ctx, KwokNodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready yet", KwokNodeName)
	})
}

func fakeNodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("1000"),
	}
}
