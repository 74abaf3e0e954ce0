package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Memory is what the kernel says of a process's memory (/proc/<pid>/status),
// in bytes. The benchmarks report RSS as the steady figure and HWM as the
// peak; RSSFile is mostly the executable's own pages, which a Go binary of
// this size keeps resident whatever it holds, and RSSAnon the rest (heap,
// stacks).
type Memory struct {
	RSS     int64 // VmRSS
	HWM     int64 // VmHWM: the peak of RSS
	RSSAnon int64
	RSSFile int64
}

// ReadMemory reads /proc/<pid>/status (Linux).
func ReadMemory(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	m, err := parseMemory(string(data))
	if err != nil {
		return Memory{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return m, nil
}

// MemoryOf is ReadMemory for a benchmark or test, which it fails on an
// error.
func MemoryOf(tb testing.TB, pid int) Memory {
	tb.Helper()
	m, err := ReadMemory(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func parseMemory(status string) (Memory, error) {
	var m Memory
	fields := map[string]*int64{"VmRSS:": &m.RSS, "VmHWM:": &m.HWM, "RssAnon:": &m.RSSAnon, "RssFile:": &m.RSSFile}
	for _, line := range strings.Split(status, "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		dst, ok := fields[key+":"]
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s %q: %w", key, strings.TrimSpace(rest), err)
		}
		*dst = kb * 1024
	}
	if m.RSS == 0 || m.HWM == 0 {
		return Memory{}, fmt.Errorf("no VmRSS or VmHWM")
	}
	return m, nil
}
