package servicetest

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
)

// EnvInt reads a positive size for a benchmark or load test from the
// environment (SDP_BENCH_PODS and the like), or def when unset; a value that
// is not a positive number fails the test rather than running at some other
// size than the one asked for.
func EnvInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// SettledMemory waits SDP_BENCH_MEMORY_SETTLE seconds (default 10), so that
// the process's figure is its steady one rather than a burst's, then reads
// its memory and reports it on b: VmRSS as RSS-MiB, VmHWM as peak-RSS-MiB,
// RssAnon as anon-RSS-MiB.
func SettledMemory(b *testing.B, pid int) proc.Memory {
	b.Helper()
	time.Sleep(time.Duration(EnvInt(b, "SDP_BENCH_MEMORY_SETTLE", 10)) * time.Second)
	mem := proc.MemoryOf(b, pid)
	const mib = 1 << 20
	b.ReportMetric(float64(mem.RSS)/mib, "RSS-MiB")
	b.ReportMetric(float64(mem.HWM)/mib, "peak-RSS-MiB")
	b.ReportMetric(float64(mem.RSSAnon)/mib, "anon-RSS-MiB")
	return mem
}
