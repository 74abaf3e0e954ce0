package benchreport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Machine is what the figures depend on besides the code.
type Machine struct {
	CPUModel  string
	Cores     int
	MemGiB    float64
	Kernel    string
	GoVersion string
	// LoadStart and LoadEnd are the 1, 5 and 15 minute load averages at
	// the start of the run and when the report was written.
	LoadStart, LoadEnd string
}

// ReadMachine reads the machine's facts from a proc file system (/proc,
// or a copy of its files for tests). The load at the start of the run is
// given (a /proc/loadavg line), since the report is written at its end.
func ReadMachine(proc, loadStart string) (Machine, error) {
	m := Machine{GoVersion: runtime.Version(), LoadStart: LoadAverage([]byte(loadStart))}
	read := func(name string) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(proc, name))
		if err != nil {
			return nil, fmt.Errorf("machine facts: %w", err)
		}
		return data, nil
	}
	cpuinfo, err := read("cpuinfo")
	if err != nil {
		return m, err
	}
	m.CPUModel, m.Cores = parseCPUInfo(cpuinfo)
	meminfo, err := read("meminfo")
	if err != nil {
		return m, err
	}
	if m.MemGiB, err = parseMemTotal(meminfo); err != nil {
		return m, err
	}
	kernel, err := read("sys/kernel/osrelease")
	if err != nil {
		return m, err
	}
	m.Kernel = strings.TrimSpace(string(kernel))
	load, err := read("loadavg")
	if err != nil {
		return m, err
	}
	m.LoadEnd = LoadAverage(load)
	return m, nil
}

// LoadAverage is the three load averages of a /proc/loadavg line.
func LoadAverage(loadavg []byte) string {
	f := strings.Fields(string(loadavg))
	if len(f) < 3 {
		return strings.TrimSpace(string(loadavg))
	}
	return strings.Join(f[:3], " ")
}

// parseCPUInfo returns the first model name and the number of logical
// processors listed.
func parseCPUInfo(data []byte) (model string, cores int) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "processor":
			cores++
		case "model name":
			if model == "" {
				model = strings.TrimSpace(value)
			}
		}
	}
	return model, cores
}

// parseMemTotal returns MemTotal of /proc/meminfo in GiB.
func parseMemTotal(data []byte) (float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("MemTotal %q: %w", rest, err)
		}
		return kb / (1 << 20), nil
	}
	return 0, fmt.Errorf("no MemTotal in meminfo")
}

// LoadMark is the load average when a step of the run started ("end":
// when the last one ended), as mk/bench.mk logs it in load.txt.
type LoadMark struct{ Step, Time, Load string }

// ReadLoadLog reads load.txt lines "<step> <hh:mm:ss> <1 min> <5 min>
// <15 min>"; a missing file gives none.
func ReadLoadLog(path string) ([]LoadMark, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load log: %w", err)
	}
	var marks []LoadMark
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("load log %s line %d: %q: want step, time and three load averages", path, i+1, line)
		}
		marks = append(marks, LoadMark{Step: f[0], Time: f[1], Load: strings.Join(f[2:], " ")})
	}
	return marks, nil
}
