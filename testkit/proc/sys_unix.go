//go:build unix && !linux

package proc

import "syscall"

// sysProcAttr puts a child in its own process group. Namespaces are
// Linux's: cloneflags are not used here.
func sysProcAttr(uintptr) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
