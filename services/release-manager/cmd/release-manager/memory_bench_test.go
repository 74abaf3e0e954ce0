package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// BenchmarkMemoryInSync measures the release-manager binary's memory with
// 0, 1,000 and 5,000 deployments in sync (SDP_BENCH_MEMORY_DEPLOYMENTS,
// ascending): the releases are installed by the service itself, one
// transaction per step, into one namespace that grows from step to step;
// at each step the binary is restarted (a fresh process holds only what
// the deployments held need, not the garbage of installing them), and once
// it has looked at every entry and SDP_BENCH_MEMORY_SETTLE (10 s) has
// passed, its VmRSS is the steady figure (rss-MiB) and its VmHWM the peak
// (peak-rss-MiB); install-peak-rss-MiB is the VmHWM of the process that
// installed that step's releases.
//
// With SDP_BENCH_HEAP_TOP=<file>, the restarted process's heap profile at
// SDP_BENCH_HEAP_AT (1,000) deployments is summarised into that file
// (`go tool pprof -top -sample_index=inuse_space`, the first 25 entries),
// taken from /debug/pprof/heap (SDP_PPROF=true).
//
//	go test -run '^$' -bench MemoryInSync -benchtime 1x ./cmd/release-manager
func BenchmarkMemoryInSync(b *testing.B) {
	var sizes []int
	for _, f := range strings.Split(envOr("SDP_BENCH_MEMORY_DEPLOYMENTS", "0,1000,5000"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || len(sizes) > 0 && n < sizes[len(sizes)-1] {
			b.Fatalf("SDP_BENCH_MEMORY_DEPLOYMENTS: want ascending numbers ≥ 0, got %q", f)
		}
		sizes = append(sizes, n)
	}
	settle := time.Duration(servicetest.EnvInt(b, "SDP_BENCH_MEMORY_SETTLE", 10)) * time.Second
	heapAt := servicetest.EnvInt(b, "SDP_BENCH_HEAP_AT", 1000)
	ctx := context.Background()
	// The heap is sampled every 4 KiB rather than every 512 KiB, so that a
	// profile of a heap of a few MiB shows more than a dozen samples.
	s := newBenchService(b, "rm-memory", "SDP_PPROF=true", "GODEBUG=memprofilerate=4096")
	client, store, bin, env := s.client, s.store, s.bin, s.env
	args := []string{"--cache-dir=" + b.TempDir()}
	p := servicetest.Start(b, bin, env, args...)
	waitReady(b, p, time.Now(), time.Minute)
	installed := 0
	// Processes started for a step outlive it: started on the outer
	// benchmark, they are killed at its end, not the step's.
	outer := b
	for _, n := range sizes {
		b.Run(fmt.Sprintf("deployments=%d", n), func(b *testing.B) {
			for b.Loop() {
				if n > installed {
					ops := make([]clientv3.Op, 0, n-installed)
					for i := installed; i < n; i++ {
						id := fmt.Sprintf("m%d", i)
						v, err := configdb.Deployment{ID: id, Kind: configdb.KindHelm, Chart: "bench"}.Encode()
						if err != nil {
							b.Fatal(err)
						}
						ops = append(ops, clientv3.OpPut(store.Layout().DeploymentKey(id), string(v)))
					}
					start := time.Now()
					if _, err := client.Txn(ctx).Then(ops...).Commit(); err != nil {
						b.Fatal(err)
					}
					waitDeployed(b, client, store.Layout(), n, 20*time.Minute)
					b.Logf("%d releases installed by the service in %v", n-installed, time.Since(start).Round(time.Millisecond))
					installed = n
				}
				installPeak := proc.MemoryOf(b, p.PID()).HWM
				if code := p.Stop(b, time.Minute); code != 0 {
					b.Fatalf("release-manager exited %d on SIGTERM", code)
				}
				start := time.Now()
				p = servicetest.Start(outer, bin, env, args...)
				ready := waitReady(b, p, start, time.Minute)
				m := waitMetrics(b, p, "every entry looked at", 5*time.Minute, func(m metrics.Families) bool {
					return m.Sum("sdp_helmdeploy_release_manager_state_writes_total") >= float64(n) && m.Sum("sdp_helmdeploy_workqueue_depth") == 0
				})
				time.Sleep(settle)
				mem := proc.MemoryOf(b, p.PID())
				rss, peak, anon, file := mem.RSS, mem.HWM, mem.RSSAnon, mem.RSSFile
				after, err := p.Metrics()
				if err != nil {
					b.Fatal(err)
				}
				if os.Getenv("SDP_BENCH_HEAP_TOP") != "" && n == heapAt {
					heapTop(b, p, bin, os.Getenv("SDP_BENCH_HEAP_TOP"), n)
				}
				const mib = 1 << 20
				b.ReportMetric(float64(rss)/mib, "rss-MiB")
				b.ReportMetric(float64(peak)/mib, "peak-rss-MiB")
				b.ReportMetric(float64(installPeak)/mib, "install-peak-rss-MiB")
				// Where the resident set is: anonymous memory (the Go heap
				// and what it has not yet returned, stacks) and pages of the
				// executable; of the heap, what is live and what is free but
				// kept.
				b.ReportMetric(float64(anon)/mib, "anon-rss-MiB")
				b.ReportMetric(float64(file)/mib, "file-rss-MiB")
				b.ReportMetric(value(after, "go_memstats_heap_inuse_bytes")/mib, "heap-inuse-MiB")
				b.ReportMetric((value(after, "go_memstats_heap_idle_bytes")-value(after, "go_memstats_heap_released_bytes"))/mib, "heap-idle-kept-MiB")
				b.ReportMetric(ready.Seconds(), "ready-s")
				b.ReportMetric(value(m, "sdp_helmdeploy_release_manager_helm_actions_total"), "helm-actions")
				b.ReportMetric(float64(n), "deployments")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// heapTop writes the top of the process's in-use heap to path.
func heapTop(b *testing.B, p *servicetest.Proc, bin, path string, n int) {
	b.Helper()
	resp, err := http.Get("http://" + p.Addr() + "/debug/pprof/heap")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("/debug/pprof/heap: %s", resp.Status)
	}
	prof := filepath.Join(b.TempDir(), "heap.pprof")
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(prof, data, 0o600); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", "-sample_index=inuse_space", bin, prof).CombinedOutput()
	if err != nil {
		b.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	head := fmt.Sprintf("# release-manager heap in use with %d deployments in sync, after a restart and every entry looked at\n"+
		"# (BenchmarkMemoryInSync; go tool pprof -top -nodecount=25 -sample_index=inuse_space)\n", n)
	if err := os.WriteFile(path, append([]byte(head), out...), 0o644); err != nil {
		b.Fatal(err)
	}
}
