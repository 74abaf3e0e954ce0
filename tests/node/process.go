//go:build linux

package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ContainerProcess finds the host PID of a pod's container process: the
// one process whose cgroup path names the container's id.
func ContainerProcess(containerID string) (int, error) {
	id := containerID[strings.Index(containerID, "://")+3:]
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), id) {
			// The container's first process: its parent is the shim, in
			// no container cgroup.
			pp, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if f := strings.Fields(string(pp)); len(f) > 3 {
				ppid, _ := os.ReadFile(filepath.Join("/proc", f[3], "cgroup"))
				if strings.Contains(string(ppid), id) {
					continue
				}
			}
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process of container %s", id)
}

// ProcessFacts are what the kernel says about a container's process.
type ProcessFacts struct {
	UID          int
	RootReadOnly bool
	Env          map[string]string
}

// ReadProcess reads a process's user, whether its root filesystem is
// mounted read-only (its own mount table, as the container sees it) and
// its environment.
func ReadProcess(pid int) (ProcessFacts, error) {
	var f ProcessFacts
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return f, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if fs := strings.Fields(rest); len(fs) > 0 {
				f.UID, _ = strconv.Atoi(fs[0])
			}
		}
	}
	mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		return f, err
	}
	for _, line := range strings.Split(string(mi), "\n") {
		fs := strings.Fields(line)
		if len(fs) > 5 && fs[4] == "/" {
			f.RootReadOnly = strings.HasPrefix(fs[5], "ro")
		}
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return f, err
	}
	f.Env = map[string]string{}
	for _, kv := range strings.Split(string(env), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f.Env[k] = v
		}
	}
	return f, nil
}
