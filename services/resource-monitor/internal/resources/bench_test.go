package resources

import (
	"fmt"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/cniconfig"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// BenchmarkReconcile200 is the in-memory part of one reconcile with 200
// NADs in 20 supernets after one NAD changed: one config parsed (the
// others' results are kept by resource version), every entry built, and
// the diff against the entries last written. It backs the choice of one
// work-queue key that recomputes everything.
func BenchmarkReconcile200(b *testing.B) {
	const n = 200
	config := func(i, end int) []byte {
		return fmt.Appendf(nil, `{"cniVersion":"0.3.1","name":"bench-%d","type":"macvlan","master":"eth1","ipam":{"type":"whereabouts","range":"10.%d.%d.0/24","range_start":"10.%d.%d.10","range_end":"10.%d.%d.%d","gateway":"10.%d.%d.1"}}`,
			i, 100+i/250, i%250, 100+i/250, i%250, 100+i/250, i%250, end, 100+i/250, i%250)
	}
	nads := make([]NAD, n)
	for i := range nads {
		net, err := cniconfig.Parse(config(i, 200), fmt.Sprintf("bench-%d", i))
		if err != nil {
			b.Fatal(err)
		}
		nads[i] = NAD{Namespace: "bench", Name: fmt.Sprintf("bench-%d", i), Supernet: fmt.Sprintf("sn-%d", i%20), Network: net}
	}
	have := map[string]configdb.Resource{}
	for id, r := range Build(nads).Entries {
		have[id] = r
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % n
		net, err := cniconfig.Parse(config(k, 150+i/n%2*50), nads[k].Name)
		if err != nil {
			b.Fatal(err)
		}
		nads[k].Network = net
		want := Build(nads)
		put, del := Diff(want.Entries, have)
		if len(put) != 1 || len(del) != 0 {
			b.Fatalf("%d puts, %d deletes, want 1 put", len(put), len(del))
		}
		have[put[0].ID()] = put[0]
	}
}
