package mirror

import (
	"context"
	"fmt"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
)

// BenchmarkListResources220 is what the mirror's cached view saves on each
// NAD change: one read of every owned /resource/ entry (200 NADs in 20
// supernets) from a real etcd, decoded. Compare with BenchmarkReconcile200
// in internal/resources, the in-memory part of a reconcile.
func BenchmarkListResources220(b *testing.B) {
	srv := etcdtest.Start(b)
	store, err := configdb.NewStore(srv.Client(b), "")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	vlan := 101
	for i := range 200 {
		r := configdb.NetworkResource{Namespace: "bench", Name: fmt.Sprintf("bench-%d", i), CNIType: "macvlan", Master: "eth1", VLAN: &vlan,
			Subnet: fmt.Sprintf("10.100.%d.0/24", i), RangeStart: fmt.Sprintf("10.100.%d.10", i), RangeEnd: fmt.Sprintf("10.100.%d.200", i),
			Excludes: []string{fmt.Sprintf("10.100.%d.100/32", i)}, Gateway: fmt.Sprintf("10.100.%d.1", i), Supernet: fmt.Sprintf("sn-%d", i%20)}
		if _, err := store.PutResource(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	for s := range 20 {
		members := make([]string, 0, 10)
		for i := s; i < 200; i += 20 {
			members = append(members, fmt.Sprintf("bench/bench-%d", i))
		}
		if _, err := store.PutResource(ctx, configdb.SupernetResource{Name: fmt.Sprintf("sn-%d", s), CIDR: "10.100.0.0/16", Members: members}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		list, err := store.ListResources(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(list.Resources) != 220 {
			b.Fatalf("%d entries", len(list.Resources))
		}
	}
}
