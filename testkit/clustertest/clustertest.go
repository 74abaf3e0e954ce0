// Package clustertest is what the services' benchmarks and control-plane
// tests start from: the shared local control plane or one of their own, a
// client of it, a namespace. It is apart from servicetest so that the
// tests that need no control plane (shared's) do not require one. It is
// part of the test kit, which requires nothing of the product;
// docs/architecture.md, §1. The rooms.
package clustertest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

// BenchCluster gives a benchmark the shared local control plane and a
// client of it with the request limits qps and burst (the service's own,
// so that the figures are the service's and not the client's).
func BenchCluster(tb testing.TB, qps float32, burst int) (*localcp.ControlPlane, *rest.Config, kubernetes.Interface) {
	tb.Helper()
	cp := cptest.Get(tb)
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = qps, burst
	return cp, cfg, kubernetes.NewForConfigOrDie(cfg)
}

var benchRuns atomic.Int32

// BenchNamespace creates <prefix>-<n> for one run of a benchmark, emptied
// at its end: -count runs (and b.N=1 before the real one) share the
// control plane, and each must see only its own objects.
func BenchNamespace(tb testing.TB, cs kubernetes.Interface, prefix string) string {
	tb.Helper()
	ns := fmt.Sprintf("%s-%d", prefix, benchRuns.Add(1))
	cptest.Namespace(tb, cs, ns)
	return ns
}

// OwnCluster starts a control plane of the test's own, one it may pause
// or stop without disturbing the other tests, with the namespace ns.
func OwnCluster(tb testing.TB, ctx context.Context, ns string) (*localcp.ControlPlane, *rest.Config, kubernetes.Interface) {
	tb.Helper()
	own := cptest.Start(tb, ctx, localcp.Options{})
	cfg := own.RESTConfig()
	cs := kubernetes.NewForConfigOrDie(cfg)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	return own, cfg, cs
}
