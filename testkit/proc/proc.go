//go:build unix

// Package proc is the one wrapper tests and the demo use to run a binary:
// started with its arguments and environment, its output appended to a log
// file, in its own process group and (on Linux) killed by the kernel if its
// parent dies, so that nothing outlives a test; stopped by its PID only,
// SIGTERM first and SIGKILL after a grace period.
//
// It is part of the test kit, which requires nothing of the product;
// docs/architecture.md, §1. The rooms.
package proc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// Options say what to run.
type Options struct {
	// Name names the process in errors ("etcd", "release-manager-0").
	Name string
	Bin  string
	Args []string
	// Env is the whole environment; nil: this process's own.
	Env []string
	// LogPath receives stdout and stderr, appended.
	LogPath string
	// Stdout, when set, receives stdout instead of the log: for a command
	// whose output is checked apart from its messages.
	Stdout io.Writer
	// Header writes a "# <time>: <command>" line before the output, to
	// tell apart the starts of a process that appends to one log.
	Header bool
	// Cloneflags (Linux: syscall.CLONE_NEW*) start the process in new
	// namespaces: a local real node's init (testkit/localcp) gets network,
	// mount and PID namespaces of its own.
	Cloneflags uintptr
}

// Process is a running (or ended) child process.
type Process struct {
	Name    string
	LogPath string
	opts    Options
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited and been reaped
	err     error         // valid after done is closed
}

// Start starts a process as o says.
func Start(o Options) (*Process, error) {
	if o.Name == "" {
		o.Name = o.Bin
	}
	lf, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", o.Name, err)
	}
	if o.Header {
		fmt.Fprintf(lf, "# %s: %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), o.Bin, strings.Join(o.Args, " "))
	}
	cmd := exec.Command(o.Bin, o.Args...)
	cmd.Stdout = lf
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	}
	cmd.Stderr = lf
	cmd.SysProcAttr = sysProcAttr(o.Cloneflags)
	cmd.Env = o.Env
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", o.Name, err)
	}
	p := &Process{Name: o.Name, LogPath: o.LogPath, opts: o, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// Restart starts the same command again, appending to the same log.
func (p *Process) Restart() (*Process, error) { return Start(p.opts) }

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process ended (valid once Done is closed): nil for exit
// code 0, an *exec.ExitError otherwise.
func (p *Process) Err() error { return p.err }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit code of an ended process; -1 when it was ended by a
// signal or has not ended.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Kill sends SIGKILL, as a node failure or the OOM killer would, and waits
// until the process is reaped.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(p.PID(), syscall.SIGKILL)
	}
	<-p.done
}

// Signal sends sig to the process (by its PID) if it is still running.
func (p *Process) Signal(sig syscall.Signal) {
	if !p.Exited() {
		_ = syscall.Kill(p.PID(), sig)
	}
}

// Stop sends SIGTERM to the process (by its PID), and SIGKILL if it has not
// exited after grace; it returns once the process has been reaped, with an
// error if it had to be killed.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	p.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	p.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s (pid %d) did not stop within %s of SIGTERM: killed", p.Name, p.PID(), grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.PID())
	}
}

// Log is what the process wrote so far ("" when the log cannot be read).
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Tail is the last n lines of the log, or a note that it cannot be read.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// ExitError describes an exit, with the tail of the log.
func (p *Process) ExitError() error {
	return fmt.Errorf("%s exited early (%v); last lines of %s:\n%s", p.Name, p.err, p.LogPath, p.Tail(25))
}

// WaitFor polls check (each call bounded to 2 s) until it returns nil, the
// process exits, or ctx is done; the error names what was awaited, check's
// last error and the tail of the log.
func (p *Process) WaitFor(ctx context.Context, what string, check func(context.Context) error) error {
	exited := false
	err := eventually.Poll(ctx, 0, 100*time.Millisecond, func(ctx context.Context) error {
		if p.Exited() {
			exited = true
			return eventually.Stop(p.ExitError())
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return check(cctx)
	})
	if err == nil || exited {
		return err
	}
	return fmt.Errorf("%s: %s not reached: %w; last lines of %s:\n%s", p.Name, what, err, p.LogPath, p.Tail(25))
}

// RSS reads the process's resident set size from /proc, in bytes.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.PID())
}
