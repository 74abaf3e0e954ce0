//go:build linux

package proc

import "syscall"

// sysProcAttr puts a child in its own process group and asks the kernel to
// kill it if the parent (test binary, localcp command, demo) dies without calling
// Stop, so that no control plane outlives its owner.
func sysProcAttr(cloneflags uintptr) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Cloneflags: cloneflags}
}
