package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/clustertest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/nadtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

const (
	benchNADs      = 200
	benchSupernets = 20
	benchIdle      = 10 * time.Second
	// benchCIDRRounds rounds of 2×benchSupernets changes that grow and
	// shrink a supernet's CIDR.
	benchCIDRRounds = 5
)

// runNamespace creates the namespace of one run of a benchmark and gives its
// NADs, all deleted at the end of the run.
func runNamespace(b *testing.B, cfg *rest.Config, prefix string) (string, dynamic.ResourceInterface) {
	ns := clustertest.BenchNamespace(b, kubernetes.NewForConfigOrDie(cfg), prefix)
	nads := dynamic.NewForConfigOrDie(cfg).Resource(nadcache.GVR).Namespace(ns)
	b.Cleanup(func() {
		if err := nads.DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			b.Errorf("delete the benchmark's NADs: %v", err)
		}
	})
	return ns, nads
}

// BenchmarkNADChangeToEntry runs the built resource-monitor binary against
// the local control plane with 200 labelled whereabouts NADs in 20
// supernets. Each iteration patches one NAD's spec.config (its range_end
// flips between two values) and waits until an etcd watch on /resource/
// shows that NAD's entry rewritten; the time is taken from just before the
// patch is sent, so it includes the API server's write and the informer's
// watch. Reported: p50-ms and p99-ms of that, etcd writes per change
// (events on /resource/ while changing); then (only when b.N > 1)
// cidr-p50-ms and cidr-p99-ms of changes that grow or shrink a supernet's
// CIDR, until both the NAD's and the supernet's entries are rewritten, with
// their writes per change; and etcd writes over 10 s idle afterwards
// (idle-writes).
//
//	go test -run '^$' -bench NADChangeToEntry -benchtime 300x ./cmd/resource-monitor
func BenchmarkNADChangeToEntry(b *testing.B) {
	cp, cfg, _ := clustertest.BenchCluster(b, 1000, 2000)
	nadtest.InstallCRD(b, cfg)
	ctx := context.Background()

	// Each run (b.N=1 first, then the real one) has its own namespace and
	// config DB; its NADs go with it, so the next run sees only its own.
	ns, nads := runNamespace(b, cfg, "rm-bench")
	// configIn puts NAD i's /24 in 10.<second>.0.0/16.
	configIn := func(i, second, end int) string {
		return fmt.Sprintf(`{"cniVersion":"0.3.1","name":"bench-%d","type":"macvlan","master":"eth1","ipam":{"type":"whereabouts","range":"10.%d.%d.0/24","range_start":"10.%d.%d.10","range_end":"10.%d.%d.%d","gateway":"10.%d.%d.1"}}`,
			i, second, i%250, second, i%250, second, i%250, end, second, i%250)
	}
	config := func(i, end int) string { return configIn(i, 100+i/250, end) }
	for i := range benchNADs {
		sn := fmt.Sprintf("bench-sn-%d", i%benchSupernets)
		if _, err := nads.Create(ctx, nadtest.NAD(ns, fmt.Sprintf("bench-%d", i), nadtest.Labels(sn), config(i, 200)), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}

	srv := etcdtest.Start(b)
	client, store := srv.Store(b)
	bin := servicetest.Build(b, ".")
	p := servicetest.Start(b, bin, []string{"KUBECONFIG=" + cp.KubeconfigPath, "SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port)})
	p.WaitFor(b, "/readyz", 200, "ok", 60*time.Second)
	if err := eventually.Poll(ctx, 60*time.Second, 20*time.Millisecond, func(ctx context.Context) error {
		list, err := store.ListResources(ctx)
		if err == nil && len(list.Resources) == benchNADs+benchSupernets {
			return nil
		}
		return fmt.Errorf("entries never reached %d: %v %v", benchNADs+benchSupernets, len(list.Resources), err)
	}); err != nil {
		b.Fatal(err)
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan string, 1024)
	watch := client.Watch(wctx, store.Layout().ResourcesPrefix(), clientv3.WithPrefix())
	go func() {
		defer close(events)
		for resp := range watch {
			for _, ev := range resp.Events {
				events <- string(ev.Kv.Key)
			}
		}
	}()
	// A watch is only in place once etcd has answered something on it; a
	// progress request makes it answer now.
	if err := client.RequestProgress(wctx); err != nil {
		b.Fatal(err)
	}

	lat := make([]time.Duration, 0, b.N)
	apiLat := make([]time.Duration, 0, b.N) // the patch call alone
	writes := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := i % benchNADs
		name := fmt.Sprintf("bench-%d", n)
		end := 150 // from 200, as created, and back on every other round
		if (i/benchNADs)%2 == 1 {
			end = 200
		}
		patch := fmt.Sprintf(`{"spec":{"config":%q}}`, config(n, end))
		want := store.Layout().Key(configdb.ResourceDir + configdb.NetworkResourceID(ns, name))
		start := time.Now()
		if _, err := nads.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			b.Fatal(err)
		}
		apiLat = append(apiLat, time.Since(start))
		timeout := time.After(10 * time.Second)
	wait:
		for {
			select {
			case k, ok := <-events:
				if !ok {
					b.Fatal("etcd watch ended")
				}
				writes++
				if k == want {
					lat = append(lat, time.Since(start))
					break wait
				}
			case <-timeout:
				b.Fatalf("entry %s not rewritten within 10s of the NAD patch", want)
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	slices.Sort(apiLat)
	b.ReportMetric(float64(apiLat[len(apiLat)/2].Microseconds())/1000, "api-p50-ms")
	b.ReportMetric(float64(apiLat[(len(apiLat)-1)*99/100].Microseconds())/1000, "api-p99-ms")
	// The service's own part, from the informer's event to the end of the
	// reconcile that wrote the entry, as its histogram has it.
	const svc = "sdp_helmdeploy_resource_monitor_event_to_write_seconds"
	m := scrape(b, p)
	h, ok := m.Histogram(svc)
	if !ok {
		b.Fatalf("%s not in /metrics", svc)
	}
	if count := float64(h.GetSampleCount()); count > 0 {
		b.ReportMetric(h.GetSampleSum()/count*1000, "svc-mean-ms")
		b.ReportMetric(bucketQuantile(b, m, svc, 0.99)*1000, "svc-p99-le-ms")
	}

	// Writes that trail the last awaited one (there should be none: a
	// range_end change touches only the NAD's own entry) count too.
	settle := time.After(500 * time.Millisecond)
drain:
	for {
		select {
		case <-events:
			writes++
		case <-settle:
			break drain
		}
	}
	b.ReportMetric(float64(writes)/float64(b.N), "writes/change")
	b.ReportMetric(0, "ns/op")

	if b.N > 1 {
		// Changes that move a supernet's CIDR: one member of each supernet
		// moves its subnet out of 10.100.0.0/16, so that the supernet
		// grows to 10.100.0.0/15, then back, so that it shrinks again;
		// each change waits for both its own entry and its supernet's (2
		// writes, issued in parallel).
		var cidrLat []time.Duration
		cidrWrites := 0
		for round := range benchCIDRRounds {
			for j := range 2 * benchSupernets {
				n := (round*benchSupernets + j%benchSupernets) % benchNADs
				second := 101
				if j >= benchSupernets {
					second = 100
				}
				name := fmt.Sprintf("bench-%d", n)
				pending := map[string]bool{
					store.Layout().Key(configdb.ResourceDir + configdb.NetworkResourceID(ns, name)):                                      true,
					store.Layout().Key(configdb.ResourceDir + configdb.SupernetResourceID(fmt.Sprintf("bench-sn-%d", n%benchSupernets))): true,
				}
				patch := fmt.Sprintf(`{"spec":{"config":%q}}`, configIn(n, second, 200))
				start := time.Now()
				if _, err := nads.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
					b.Fatal(err)
				}
				timeout := time.After(10 * time.Second)
				for len(pending) > 0 {
					select {
					case k, ok := <-events:
						if !ok {
							b.Fatal("etcd watch ended")
						}
						cidrWrites++
						delete(pending, k)
					case <-timeout:
						b.Fatalf("entries %v not rewritten within 10s of the NAD patch", pending)
					}
				}
				cidrLat = append(cidrLat, time.Since(start))
			}
		}
		slices.Sort(cidrLat)
		cq := func(f float64) float64 { return float64(cidrLat[int(f*float64(len(cidrLat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(cq(0.5), "cidr-p50-ms")
		b.ReportMetric(cq(0.99), "cidr-p99-ms")
		settle := time.After(500 * time.Millisecond)
	drainCIDR:
		for {
			select {
			case <-events:
				cidrWrites++
			case <-settle:
				break drainCIDR
			}
		}
		b.ReportMetric(float64(cidrWrites)/float64(len(cidrLat)), "cidr-writes/change")
	}

	if b.N > 1 {
		idle := 0
		end := time.After(benchIdle)
	idleLoop:
		for {
			select {
			case <-events:
				idle++
			case <-end:
				break idleLoop
			}
		}
		b.ReportMetric(float64(idle), "idle-writes/10s")
	}
}

// scrape reads the binary's /metrics.
func scrape(b *testing.B, p *servicetest.Proc) metrics.Families {
	b.Helper()
	m, err := p.Metrics()
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// bucketQuantile is the upper bound of the histogram bucket that holds the
// q quantile: with buckets doubling from 0.5 ms, within a factor of two.
func bucketQuantile(b *testing.B, m metrics.Families, name string, q float64) float64 {
	b.Helper()
	h, ok := m.Histogram(name)
	if !ok || h.GetSampleCount() == 0 {
		b.Fatalf("%s: no observations", name)
	}
	bounds, counts := metrics.Buckets(h)
	total := float64(h.GetSampleCount())
	for i, le := range bounds {
		if float64(counts[i]) >= q*total {
			return le
		}
	}
	return bounds[len(bounds)-1]
}
