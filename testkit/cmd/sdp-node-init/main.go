//go:build linux

// Command sdp-node-init is PID 1 of a local real node (testkit/localcp):
// started in new network, mount and PID namespaces, it makes the node's
// private world and runs the node's daemons (containerd, the kubelet) in it,
// reaping every process that ends up its child (containerd's shims
// re-parent to it).
//
// It exists so that a node can always be stopped whole, by one PID: on
// SIGTERM it stops its daemons in reverse order, then kills what is left in
// its PID namespace; when it exits, however it exits, the kernel kills every
// process of the namespace and drops every mount of its mount namespace
// (overlay snapshots, pods' secret volumes, network namespaces' bind
// mounts). Nothing of a node outlives it but its cgroups, which localcp
// removes.
//
//	sdp-node-init SPEC.json
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/nodespec"
)

const stopGrace = 10 * time.Second

func main() {
	log.SetFlags(log.Ldate | log.Ltime | log.Lmicroseconds | log.LUTC)
	log.SetPrefix("sdp-node-init: ")
	if len(os.Args) != 2 {
		log.Fatal("usage: sdp-node-init SPEC.json")
	}
	if os.Getpid() != 1 {
		log.Fatal("must run as PID 1 of a new PID namespace (localcp starts it with CLONE_NEWPID)")
	}
	var spec nodespec.Spec
	b, err := os.ReadFile(os.Args[1])
	if err == nil {
		err = json.Unmarshal(b, &spec)
	}
	if err != nil {
		log.Fatalf("spec: %v", err)
	}
	if err := setup(spec); err != nil {
		log.Fatalf("setup: %v", err)
	}

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	r := &reaper{running: map[int]string{}}
	var started []int
	stopping := false
	for _, p := range spec.Procs {
		if p.WaitFile != "" && !waitFile(p.WaitFile, sigs, r) {
			stopping = true
			break
		}
		pid, err := startProc(p)
		if err != nil {
			log.Printf("%s: %v", p.Name, err)
			stopping = true
			break
		}
		r.running[pid] = p.Name
		started = append(started, pid)
		log.Printf("%s started, pid %d in the node", p.Name, pid)
	}
	for !stopping {
		s := <-sigs
		if s == syscall.SIGCHLD {
			r.reap()
			// A node whose kubelet or containerd is gone is no node: stop
			// the rest and exit, so that whoever started it sees it at
			// once (and the daemon's log says why).
			if len(r.running) < len(started) {
				log.Printf("a daemon of the node exited: stopping the node")
				stopping = true
			}
			continue
		}
		log.Printf("%v: stopping the node", s)
		stopping = true
	}
	stop(started, r)
	if len(r.failed) > 0 {
		os.Exit(1)
	}
}

func setup(spec nodespec.Spec) error {
	// Nothing mounted here may reach the host's mount table.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	// A /proc of the node's PID namespace: the daemons see their own.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	for _, d := range spec.Tmpfs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755"); err != nil {
			return fmt.Errorf("tmpfs on %s: %w", d, err)
		}
	}
	if err := maskSysctls(spec.Sysctls); err != nil {
		return err
	}
	return loopbackUp()
}

func maskSysctls(sysctls map[string]string) error {
	if len(sysctls) == 0 {
		return nil
	}
	// A tmpfs of the node's own for the files, on a directory that every
	// node has and no one else uses while the node runs.
	dir := "/run/containerd/.sdp-sysctls"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, value := range sysctls {
		target := filepath.Join("/proc/sys", filepath.FromSlash(name))
		if _, err := os.Stat(target); err != nil {
			return fmt.Errorf("sysctl %s: %w", name, err)
		}
		f := filepath.Join(dir, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(f, []byte(value+"\n"), 0o444); err != nil {
			return err
		}
		if err := unix.Mount(f, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("show sysctl %s as %s: %w", name, value, err)
		}
	}
	return nil
}

// loopbackUp brings up lo, the only interface of the node's network
// namespace; everything of the node talks over it.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}

func startProc(p nodespec.Proc) (int, error) {
	if err := os.MkdirAll(filepath.Dir(p.Log), 0o755); err != nil {
		return 0, err
	}
	lf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer lf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	fmt.Fprintf(lf, "# %s: %s %v\n", time.Now().UTC().Format(time.RFC3339Nano), p.Path, p.Args)
	proc, err := os.StartProcess(p.Path, append([]string{p.Path}, p.Args...), &os.ProcAttr{
		Env:   p.Env,
		Files: []*os.File{devnull, lf, lf},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return 0, err
	}
	return proc.Pid, nil
}

// waitFile waits for a file while reaping, and gives up on a stop signal.
func waitFile(path string, sigs <-chan os.Signal, r *reaper) bool {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return true
		}
		select {
		case s := <-sigs:
			if s == syscall.SIGCHLD {
				r.reap()
				continue
			}
			log.Printf("%v while waiting for %s: stopping the node", s, path)
			return false
		case <-tick.C:
		}
	}
}

// reaper collects every child that ended: the daemons, and the orphans
// (shims, their children) that the kernel re-parents to PID 1.
type reaper struct {
	running map[int]string // the daemons still running
	failed  []string       // the daemons that exited before the node was stopped
	stopped bool
}

func (r *reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		if name, ok := r.running[pid]; ok {
			delete(r.running, pid)
			log.Printf("%s (pid %d) exited: %s", name, pid, status(ws))
			if !r.stopped {
				r.failed = append(r.failed, name)
			}
		}
	}
}

func status(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("status %#x", uint32(ws))
}

// stop stops the daemons in reverse start order (the kubelet before
// containerd), each SIGTERM then SIGKILL after a grace period, then every
// other process of the namespace (shims, containers), and reaps them all.
func stop(started []int, r *reaper) {
	r.stopped = true
	for i := len(started) - 1; i >= 0; i-- {
		pid := started[i]
		name, ok := r.running[pid]
		if !ok {
			continue
		}
		_ = unix.Kill(pid, unix.SIGTERM)
		deadline := time.Now().Add(stopGrace)
		for time.Now().Before(deadline) {
			r.reap()
			if _, ok := r.running[pid]; !ok {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if _, ok := r.running[pid]; ok {
			log.Printf("%s (pid %d) still running after %s: SIGKILL", name, pid, stopGrace)
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	// kill(-1) from PID 1 of a namespace reaches every other process in it.
	_ = unix.Kill(-1, unix.SIGTERM)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && others() {
		r.reap()
		time.Sleep(20 * time.Millisecond)
	}
	_ = unix.Kill(-1, unix.SIGKILL)
	for others() {
		r.reap()
		time.Sleep(10 * time.Millisecond)
	}
	r.reap()
	log.Printf("node stopped")
}

// others says whether any process but this one is left in the namespace.
func others() bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err == nil && pid != 1 {
			return true
		}
	}
	return false
}
