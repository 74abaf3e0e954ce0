package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/clustertest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/nadtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// BenchmarkNADMemory measures the built resource-monitor's memory with
// SDP_BENCH_MEMORY_NADS labelled whereabouts NADs (default 2,000) in
// SDP_BENCH_MEMORY_SUPERNETS supernets (100): once every resource entry is
// written and SDP_BENCH_MEMORY_SETTLE (10 s) has passed, VmRSS is the
// steady figure (RSS-MiB) and VmHWM the peak (peak-RSS-MiB).
//
//	go test -run '^$' -bench NADMemory -benchtime 1x ./cmd/resource-monitor
func BenchmarkNADMemory(b *testing.B) {
	nNADs, nSupernets := servicetest.EnvInt(b, "SDP_BENCH_MEMORY_NADS", 2000), servicetest.EnvInt(b, "SDP_BENCH_MEMORY_SUPERNETS", 100)
	cp, cfg, _ := clustertest.BenchCluster(b, 1000, 2000)
	nadtest.InstallCRD(b, cfg)
	ctx := context.Background()
	for b.Loop() {
		ns, nads := runNamespace(b, cfg, "rm-memory")
		var g errgroup.Group
		g.SetLimit(16)
		for i := range nNADs {
			g.Go(func() error {
				// NAD i's /24 is 10.<100+i/250>.<i%250>.0/24: none overlap.
				second, third := 100+i/250, i%250
				config := fmt.Sprintf(`{"cniVersion":"0.3.1","name":"mem-%d","type":"macvlan","master":"eth1","ipam":{"type":"whereabouts","range":"10.%d.%d.0/24","range_start":"10.%d.%d.10","range_end":"10.%d.%d.200","gateway":"10.%d.%d.1"}}`,
					i, second, third, second, third, second, third, second, third)
				sn := fmt.Sprintf("mem-sn-%d", i%nSupernets)
				_, err := nads.Create(ctx, nadtest.NAD(ns, fmt.Sprintf("mem-%d", i), nadtest.Labels(sn), config), metav1.CreateOptions{})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		srv := etcdtest.Start(b)
		_, store := srv.Store(b)
		p := servicetest.Start(b, servicetest.Build(b, "."), []string{"KUBECONFIG=" + cp.KubeconfigPath, "SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port)})
		p.WaitFor(b, "/readyz", 200, "ok", 60*time.Second)
		if err := eventually.Poll(ctx, 5*time.Minute, 100*time.Millisecond, func(ctx context.Context) error {
			list, err := store.ListResources(ctx)
			if err == nil && len(list.Resources) >= nNADs+nSupernets {
				return nil
			}
			return fmt.Errorf("entries never reached %d: %v %v", nNADs+nSupernets, len(list.Resources), err)
		}); err != nil {
			b.Fatal(err)
		}
		servicetest.SettledMemory(b, p.PID())
		b.ReportMetric(float64(nNADs), "nads")
		if code := p.Stop(b, time.Minute); code != 0 {
			b.Fatalf("resource-monitor exited %d on SIGTERM", code)
		}
	}
	b.ReportMetric(0, "ns/op")
}
