// What every service benchmark starts from: the shared local control
// plane, a client of it, and a namespace of its own.

package servicetest

import (
	"fmt"
	"sync/atomic"
	"testing"

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
