package etcdtest

import (
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// DeploymentPuts returns the puts of n helm deployment entries of chart,
// ids <idPrefix>0 … <idPrefix>n-1, for one etcd transaction: the way the
// Python deployer's users write a batch, and what the benchmarks time from
// its commit (so encoding is done before, here).
func DeploymentPuts(tb testing.TB, l configdb.Layout, idPrefix, chart string, n int) []clientv3.Op {
	tb.Helper()
	ops := make([]clientv3.Op, 0, n)
	for i := range n {
		id := fmt.Sprintf("%s%d", idPrefix, i)
		v, err := configdb.Deployment{ID: id, Kind: configdb.KindHelm, Chart: chart}.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		ops = append(ops, clientv3.OpPut(l.DeploymentKey(id), string(v)))
	}
	return ops
}
