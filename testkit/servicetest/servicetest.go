// Package servicetest builds a service binary and runs it as a process
// against a real etcd, the way a pod runs it, for the services' own tests.
//
// It is part of the test kit, which requires nothing of the product:
// what it needs of a service (its logger) it is given; docs/architecture.md, §1. The rooms.
package servicetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/metrics"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
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
	*proc.Process
}

// UnsetLogFormat, given in Start's env, runs the service with
// SDP_LOG_FORMAT unset, so that it logs in its default format.
const UnsetLogFormat = "SDP_LOG_FORMAT"

// Start runs bin with env added to a clean environment and an HTTP address
// on a free loopback port, its output in a log file in the test's temporary
// directory. It is killed at the end of the test if still running, and its
// log shown if the test failed. The service logs JSON (SDP_LOG_FORMAT=json),
// which tests read field by field, unless env sets SDP_LOG_FORMAT itself or
// holds UnsetLogFormat.
func Start(t testing.TB, bin string, env []string, args ...string) *Proc {
	t.Helper()
	// Port 0, and the address read back from the service's log: a port
	// found free beforehand can be taken by a process started alongside.
	name := filepath.Base(bin)
	// Later entries win, so env's own SDP_LOG_FORMAT overrides json.
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "SDP_LOG_FORMAT=json"}
	if slices.Contains(env, UnsetLogFormat) {
		base = base[:2]
		env = slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, UnsetLogFormat) })
	}
	pr, err := proc.Start(proc.Options{
		Name:    name,
		Bin:     bin,
		Args:    append([]string{"--http-addr=127.0.0.1:0"}, args...),
		Env:     append(base, env...),
		LogPath: filepath.Join(t.TempDir(), name+".log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{Process: pr}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, p.Logs())
		}
	})
	return p
}

// Logs returns what the process wrote so far.
func (p *Proc) Logs() string { return p.Log() }

// Addr is the HTTP address the service logged it serves on, or "" before
// it has. Either log format is read.
func (p *Proc) Addr() string { return ServingAddr(p.Log()) }

// ServingAddr is the HTTP address a service's log (JSON or SKA format) says
// it serves /metrics and health on, or "" when the log does not say yet.
func ServingAddr(log string) string {
	addr := ""
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "serving metrics and health") {
			continue
		}
		if l, err := ParseLogLine(line); err == nil && l.Msg == "serving metrics and health" && l.Attrs["addr"] != "" {
			addr = l.Attrs["addr"]
		}
	}
	return addr
}

// Get fetches a path from the process's HTTP server.
func (p *Proc) Get(path string) (int, string, error) {
	addr := p.Addr()
	if addr == "" {
		return 0, "", errNotServing
	}
	return Get("http://" + addr + path)
}

var errNotServing = errors.New("not serving yet")

var httpClient = &http.Client{Timeout: 5 * time.Second}

// Get fetches url and returns the status code and body.
func Get(url string) (int, string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// Metrics scrapes the process's /metrics.
func (p *Proc) Metrics() (metrics.Families, error) {
	addr := p.Addr()
	if addr == "" {
		return nil, errNotServing
	}
	return metrics.Scrape("http://" + addr + "/metrics")
}

// WaitFor polls path until it answers code with a body containing want.
func (p *Proc) WaitFor(t testing.TB, path string, code int, want string, timeout time.Duration) {
	t.Helper()
	eventually.Eventually(t, timeout, func() error {
		if p.Exited() {
			return eventually.Stop(fmt.Errorf("process exited (%v) while waiting for %s", p.Err(), path))
		}
		c, body, err := p.Get(path)
		if err == nil && c == code && strings.Contains(body, want) {
			return nil
		}
		return fmt.Errorf("%s did not answer %d with %q; last: %d %q %v", path, code, want, c, truncate(body, 300), err)
	})
}

// Stop sends SIGTERM and returns the exit code, failing the test if the
// process does not exit within timeout.
func (p *Proc) Stop(t testing.TB, timeout time.Duration) int {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	return p.Wait(t, timeout)
}

// Wait waits for the process to exit and returns its exit code.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(timeout):
		t.Fatalf("process did not exit within %v", timeout)
	}
	if err := p.Err(); err != nil {
		if _, ok := errors.AsType[*exec.ExitError](err); !ok {
			t.Fatalf("wait: %v", err)
		}
	}
	return p.ExitCode()
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

// Leading reports whether the process's sdp_helmdeploy_leader gauge is 1.
func (p *Proc) Leading() bool {
	m, err := p.Metrics()
	if err != nil {
		return false
	}
	v, ok := m.Value("sdp_helmdeploy_leader")
	return ok && v == 1
}

// OneLeader waits until every replica is ready and fails the test unless
// exactly one of them leads; it returns that one.
func OneLeader(t testing.TB, replicas ...*Proc) *Proc {
	t.Helper()
	var leader *Proc
	var seen []string
	leaders := 0
	for _, p := range replicas {
		p.WaitFor(t, "/readyz", 200, "ok", 20*time.Second)
		if p.Leading() {
			leaders++
			leader = p
		}
		seen = append(seen, fmt.Sprintf("pid %d at %s leading %v", p.PID(), p.Addr(), p.Leading()))
	}
	if leaders != 1 {
		t.Fatalf("%d leaders, want 1; %s", leaders, strings.Join(seen, "; "))
	}
	return leader
}

// WaitMetric polls /metrics until the counter or gauge series called name
// with exactly labels (name, value pairs) has the value want.
func (p *Proc) WaitMetric(t testing.TB, timeout time.Duration, want float64, name string, labels ...string) {
	t.Helper()
	eventually.Eventually(t, timeout, func() error {
		if p.Exited() {
			return eventually.Stop(fmt.Errorf("process exited (%v) while waiting for %s %v = %v", p.Err(), name, labels, want))
		}
		m, err := p.Metrics()
		if err != nil {
			return err
		}
		if v, ok := m.Value(name, labels...); !ok || v != want {
			return fmt.Errorf("%s %v = %v (present %v), want %v", name, labels, v, ok, want)
		}
		return nil
	})
}
