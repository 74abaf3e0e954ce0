// Package servicetest builds a service binary and runs it as a process
// against a real etcd, the way a pod runs it, for the services' own tests.
package servicetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles the main package in dir into a temporary binary.
func Build(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(mustAbs(t, dir)))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

func mustAbs(t testing.TB, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Proc is a running service.
type Proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
	err  error
}

// UnsetLogFormat, given in Start's env, runs the service with
// SDP_LOG_FORMAT unset, so that it logs in its default format.
const UnsetLogFormat = "SDP_LOG_FORMAT"

// Start runs bin with env added to a clean environment and an HTTP address
// on a free loopback port. It is killed at the end of the test if still
// running. The service logs JSON (SDP_LOG_FORMAT=json), which tests read
// field by field, unless env sets SDP_LOG_FORMAT itself or holds
// UnsetLogFormat.
func Start(t testing.TB, bin string, env []string, args ...string) *Proc {
	t.Helper()
	// Port 0, and the address read back from the service's log: a port
	// found free beforehand can be taken by a process started alongside.
	p := &Proc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"--http-addr=127.0.0.1:0"}, args...)...)
	// Later entries win, so env's own SDP_LOG_FORMAT overrides json.
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "SDP_LOG_FORMAT=json"}
	if slices.Contains(env, UnsetLogFormat) {
		base = base[:2]
		env = slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, UnsetLogFormat) })
	}
	p.cmd.Env = append(base, env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.Write(sc.Bytes())
			p.logs.WriteByte('\n')
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", filepath.Base(bin), p.Logs())
		}
	})
	return p
}

// Logs returns what the process wrote to stderr so far.
func (p *Proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// Addr is the HTTP address the service logged it serves on, or "" before
// it has. Either log format is read.
func (p *Proc) Addr() string {
	for _, line := range strings.Split(p.Logs(), "\n") {
		if !strings.Contains(line, "serving metrics and health") {
			continue
		}
		if l, err := ParseLogLine(line); err == nil && l.Msg == "serving metrics and health" {
			return l.Attrs["addr"]
		}
	}
	return ""
}

// Get fetches a path from the process's HTTP server.
func (p *Proc) Get(path string) (int, string, error) {
	addr := p.Addr()
	if addr == "" {
		return 0, "", fmt.Errorf("not serving yet")
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// WaitFor polls path until it answers code with a body containing want.
func (p *Proc) WaitFor(t testing.TB, path string, code int, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("process exited (%v) while waiting for %s", p.err, path)
		default:
		}
		c, body, err := p.Get(path)
		if err == nil && c == code && strings.Contains(body, want) {
			return
		}
		last = fmt.Sprintf("%d %q %v", c, truncate(body, 300), err)
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d with %q in %v; last: %s", path, code, want, timeout, last)
}

// Stop sends SIGTERM and returns the exit code, failing the test if the
// process does not exit within timeout.
func (p *Proc) Stop(t testing.TB, timeout time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.Wait(t, timeout)
}

// Wait waits for the process to exit and returns its exit code.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("process did not exit within %v", timeout)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", p.err)
	return -1
}

// CheckJSONLogs fails the test unless every stderr line is a JSON object
// with time, level, msg and the service name.
func (p *Proc) CheckJSONLogs(t testing.TB, service string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(p.Logs()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("no log lines")
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("log line is not JSON: %q", l)
			continue
		}
		if m["time"] == nil || m["level"] == nil || m["msg"] == nil || m["service"] != service {
			t.Errorf("log line lacks time/level/msg/service=%s: %q", service, l)
		}
	}
}

// CheckSKALogs fails the test unless every stderr line is a line of the
// SKA logging standard, tagged with the service name and naming its caller.
func (p *Proc) CheckSKALogs(t testing.TB, service string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(p.Logs()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("no log lines")
	}
	for _, line := range lines {
		l, err := ParseLogLine(line)
		switch {
		case err != nil:
			t.Errorf("log line: %v", err)
		case l.Format != "ska":
			t.Errorf("log line is not SKA format: %q", line)
		case l.Service != service || l.Function == "" || !strings.Contains(l.LineLoc, ".go#"):
			t.Errorf("log line lacks service:%s tag, function or file#line: %q", service, line)
		}
	}
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Kill sends SIGKILL, as a node failure or the OOM killer would, and waits
// for the process to be gone.
func (p *Proc) Kill() error {
	if err := p.cmd.Process.Kill(); err != nil {
		return err
	}
	<-p.done
	return nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// RSS reads the process's resident set size from /proc, in bytes.
func (p *Proc) RSS() (int64, error) {
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
