// Package benchidle measures what the three services cost while nothing
// happens: CPU time of each process and writes to the config DB, with a
// realistic content (BenchmarkIdle, run by `make bench`). This file holds
// the measuring helpers, kept apart so that they are unit-tested.
package benchidle

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports, and reading it with
// sysconf would need cgo.
const clockTicks = 100

// CPUSeconds is the user plus system CPU time a process has used so far.
func CPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	utime, stime, err := parseStat(data)
	if err != nil {
		return 0, fmt.Errorf("cpu time of pid %d: %w", pid, err)
	}
	return float64(utime+stime) / clockTicks, nil
}

// parseStat reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself, so fields are counted from the
// last ')'.
func parseStat(data []byte) (utime, stime uint64, err error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return 0, 0, fmt.Errorf("stat line without a command name: %q", truncate(data))
	}
	// After ") " come fields 3 (state) onwards: utime is the 12th of them.
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 13 {
		return 0, 0, fmt.Errorf("stat line with %d fields after the command name, want at least 13", len(fields))
	}
	if utime, err = strconv.ParseUint(fields[11], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("utime: %w", err)
	}
	if stime, err = strconv.ParseUint(fields[12], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stime: %w", err)
	}
	return utime, stime, nil
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// WriteKind says whose a written config DB key is, to attribute writes:
// "state" (state entries: release-manager and pod-monitor), "resource"
// (resource-monitor), "deploy" (deployment entries: processing scripts),
// or "other" (leader election and anything else).
func WriteKind(layout configdb.Layout, key string) string {
	switch {
	case isState(layout, key):
		return "state"
	case strings.HasPrefix(key, layout.ResourcesPrefix()):
		return "resource"
	case strings.HasPrefix(key, layout.DeploymentsPrefix()):
		return "deploy"
	}
	return "other"
}

func isState(layout configdb.Layout, key string) bool {
	_, ok := layout.StateID(key)
	return ok
}
