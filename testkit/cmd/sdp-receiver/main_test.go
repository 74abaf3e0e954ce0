package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run this test binary as sdp-receiver: TestMain turns into main
// when this is set.
const runMainEnv = "SDP_RECEIVER_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    config
		wantErr string
	}{
		{nil, config{port: 9000}, ""},
		{[]string{"--port=9100", "--ready-after=2s", "--exit-after=1m", "--exit-code=3", "--alloc-mib=64"},
			config{port: 9100, readyAfter: 2 * time.Second, exitAfter: time.Minute, exitCode: 3, allocMiB: 64}, ""},
		{[]string{"-port", "0"}, config{port: 0}, ""},
		{[]string{"--exit-code=5"}, config{port: 9000, exitCode: 5}, ""},
		{[]string{"--port=-1"}, config{}, "--port=-1"},
		{[]string{"--port=65536"}, config{}, "--port=65536"},
		{[]string{"--exit-code=256"}, config{}, "--exit-code=256"},
		{[]string{"--exit-code=-1"}, config{}, "--exit-code=-1"},
		{[]string{"--exit-after=-1s"}, config{}, "negative"},
		{[]string{"--ready-after=-1s"}, config{}, "negative"},
		{[]string{"--alloc-mib=-1"}, config{}, "--alloc-mib=-1"},
		{[]string{"--exit-after=10"}, config{}, "invalid value"},
		{[]string{"--nope"}, config{}, "not defined"},
		{[]string{"serve"}, config{}, "unexpected arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			got, err := parse(tc.args, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.wantErr) {
					t.Errorf("err %v (stderr %q), want one saying %q", err, stderr.String(), tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseProbe(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    probeConfig
		wantErr string
	}{
		{nil, probeConfig{port: 9000, timeout: time.Second}, ""},
		{[]string{"--port", "9100", "--timeout=3s"}, probeConfig{port: 9100, timeout: 3 * time.Second}, ""},
		{[]string{"--port=0"}, probeConfig{}, "--port=0"},
		{[]string{"--timeout=0s"}, probeConfig{}, "--timeout=0s"},
		{[]string{"9000"}, probeConfig{}, "unexpected arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseProbe(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// proc is sdp-receiver run as a process.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
	done  chan struct{}
	code  int
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.cmd.Env = append(os.Environ(), runMainEnv+"=1")
	p.cmd.Stderr = os.Stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -2
		}
		p.mu.Lock()
		close(p.done)
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("sdp-receiver %s logged:\n%s", strings.Join(args, " "), p.log())
		}
	})
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLine returns the submatches of the first line matching re, failing
// if the process ends or d passes first.
func (p *proc) waitLine(t *testing.T, re string, d time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	timer := time.AfterFunc(d, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(d)
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for _, l := range p.lines {
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		select {
		case <-p.done:
			t.Fatalf("exited (code %d) without logging a line matching %q", p.code, re)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line matching %q in %v", re, d)
		}
		p.cond.Wait()
	}
}

// exitCode waits up to d for the process to end.
func (p *proc) exitCode(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("still running %v later", d)
		return 0
	}
}

// port is the port the receiver logged it listens on.
func (p *proc) port(t *testing.T) int {
	t.Helper()
	port, _ := strconv.Atoi(p.waitLine(t, `msg=listening .*port=(\d+)`, 10*time.Second)[1])
	return port
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    int
		minTime time.Duration
		logs    string // a line the run logs
	}{
		{"exits with the code after the delay", []string{"--port=0", "--exit-after=300ms", "--exit-code=3"}, 3, 300 * time.Millisecond, `msg=exiting code=3 reason=--exit-after`},
		{"completes after the delay", []string{"--port=0", "--exit-after=300ms"}, 0, 300 * time.Millisecond, `msg=exiting code=0 reason=--exit-after`},
		{"a code without a delay fails at once", []string{"--port=0", "--exit-code=5"}, 5, 0, `msg=exiting code=5`},
		{"bad flag value", []string{"--exit-code=300"}, 2, 0, ""},
		{"unknown flag", []string{"--nope"}, 2, 0, ""},
		{"help", []string{"-h"}, 0, 0, ""},
		{"probe: nothing listening", []string{"probe", "--port=" + strconv.Itoa(freePort(t))}, 1, 0, `msg="probe: unhealthy"`},
		{"probe: bad port", []string{"probe", "--port=0"}, 2, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			p := start(t, tc.args...)
			if code := p.exitCode(t, 10*time.Second); code != tc.want {
				t.Errorf("exit code %d, want %d", code, tc.want)
			}
			if took := time.Since(begin); took < tc.minTime {
				t.Errorf("exited after %v, want at least %v", took, tc.minTime)
			}
			if tc.logs != "" {
				p.waitLine(t, tc.logs, time.Second)
			}
		})
	}
}

func TestRunsUntilSignalled(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t, "--port=0")
			p.waitLine(t, `msg=ready`, 10*time.Second)
			time.Sleep(300 * time.Millisecond)
			select {
			case <-p.done:
				t.Fatalf("exited by itself with %d", p.code)
			default:
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.exitCode(t, 5*time.Second); code != 0 {
				t.Errorf("exit code %d after %v, want 0", code, sig)
			}
			p.waitLine(t, `msg=exiting code=0 reason=`, time.Second)
		})
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The endpoints and the probe subcommand, before and after readiness.
func TestHealthzProbeAndExit(t *testing.T) {
	p := start(t, "--port=0", "--ready-after=1s")
	port := p.port(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	probe := func() int {
		return start(t, "probe", "--port="+strconv.Itoa(port)).exitCode(t, 10*time.Second)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("/healthz before --ready-after: %d, want 503", code)
	}
	if code := probe(); code != 1 {
		t.Errorf("probe before ready: exit %d, want 1", code)
	}
	p.waitLine(t, `msg=ready`, 10*time.Second)
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz when ready: %d, want 200", code)
	}
	if code := probe(); code != 0 {
		t.Errorf("probe when ready: exit %d, want 0", code)
	}
	for _, q := range []string{"", "?code=x", "?code=256", "?code=-1"} {
		if code, _ := get(t, base+"/exit"+q); code != http.StatusBadRequest {
			t.Errorf("/exit%s: %d, want 400", q, code)
		}
	}
	if code, body := get(t, base+"/exit?code=7"); code != http.StatusOK || !strings.Contains(body, "7") {
		t.Errorf("/exit?code=7: %d %q, want 200 saying 7", code, body)
	}
	if code := p.exitCode(t, 5*time.Second); code != 7 {
		t.Errorf("exit code %d after /exit?code=7", code)
	}
	p.waitLine(t, `msg=exiting code=7 reason=/exit`, time.Second)
}

// rssMiB is a process's resident memory.
func rssMiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmRSS in\n%s", b)
	}
	kb, _ := strconv.Atoi(string(m[1]))
	return kb >> 10
}

func TestAllocStaysResident(t *testing.T) {
	const mib = 48
	for _, tc := range []struct {
		alloc    int
		min, max int // resident MiB
	}{
		{mib, mib, 1 << 20},
		// The control: the receiver alone is well below.
		{0, 0, mib - 1},
	} {
		t.Run(fmt.Sprintf("alloc-mib=%d", tc.alloc), func(t *testing.T) {
			p := start(t, "--port=0", "--alloc-mib="+strconv.Itoa(tc.alloc))
			p.waitLine(t, `msg=ready`, 10*time.Second)
			if tc.alloc > 0 {
				p.waitLine(t, fmt.Sprintf(`msg=allocated mib=%d`, tc.alloc), time.Second)
			}
			if rss := rssMiB(t, p.cmd.Process.Pid); rss < tc.min || rss > tc.max {
				t.Errorf("resident %d MiB, want %d-%d", rss, tc.min, tc.max)
			}
		})
	}
}
