package servicetest

import (
	"os"
	"strconv"
	"testing"
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
