package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/logtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// TestBinary builds sdpctl and checks what a shell sees: exit codes 0, 1
// and 2, output on stdout, one error line on stderr.
func TestBinary(t *testing.T) {
	bin := servicetest.Build(t, "../..")
	c := newCLI(t)
	closed := strconv.Itoa(closedPort(t))
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // a substring of stdout
		stderrLine string // the whole of stderr, "" for none
	}{
		{"help", []string{"--help"}, 0, "Usage:", ""},
		{"create", append(c.connArgs(), "create", "bin-test", "--chart", "c", "--set", "a=1"), 0, "deployment bin-test created", ""},
		{"get", append(c.connArgs(), "get", "bin-test", "-o", "json"), 0, `"chart": "c"`, ""},
		{"explain without a kubeconfig", append(c.connArgs(), "explain", "bin-test"), 0,
			"kubernetes:   not asked: no kubeconfig (--kubeconfig or KUBECONFIG); showing what the config DB holds\n", ""},
		{"duplicate", append(c.connArgs(), "create", "bin-test", "--chart", "c"), 1, "",
			"sdpctl: create deployment bin-test: already exists; delete it first (sdpctl delete bin-test) or choose another id"},
		{"etcd away", []string{"--port", closed, "--timeout", "1s", "list"}, 1, "",
			"sdpctl: list deployments: config DB at http://127.0.0.1:" + closed + " did not answer within 1s; is etcd running there? Set SDP_CONFIG_HOST and SDP_CONFIG_PORT (or --host, --port), or raise --timeout"},
		{"usage", []string{"get"}, 2, "", "sdpctl: get: accepts 1 arg(s), received 0; see 'sdpctl get --help'"},
		{"unknown -o", []string{"state", "x", "-o", "wide"}, 2, "",
			`sdpctl: state: invalid argument "wide" for "-o, --output" flag: unknown output format; choose one of table, json, yaml; see 'sdpctl state --help'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			// A clean environment: no SDP_* of the machine running the test.
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			wantStderr := ""
			if tt.stderrLine != "" {
				wantStderr = tt.stderrLine + "\n"
			}
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || stderr.String() != wantStderr {
				t.Errorf("exit %d, stdout %q, stderr %q\nwant exit %d, stdout containing %q, stderr %q",
					code, stdout.String(), stderr.String(), tt.code, tt.stdout, wantStderr)
			}
		})
	}
}

// TestBinaryWatchInterrupt: Ctrl-C ends state --watch with exit 0.
func TestBinaryWatchInterrupt(t *testing.T) {
	bin := servicetest.Build(t, "../..")
	c := newCLI(t)
	c.mustRun("create", "interrupted", "--chart", "c")
	var stdout logtest.Buffer
	p, err := proc.Start(proc.Options{Name: "sdpctl", Bin: bin, Args: append(c.connArgs(), "state", "interrupted", "--watch", "-o", "json"),
		Env: []string{"PATH=/usr/bin:/bin"}, LogPath: filepath.Join(t.TempDir(), "stderr"), Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	eventually.Eventually(t, 20*time.Second, func() error {
		if p.Exited() {
			return eventually.Stop(fmt.Errorf("exited (%v); stderr %q", p.Err(), p.Log()))
		}
		if stdout.String() == "" {
			return fmt.Errorf("no state printed; stderr %q", p.Log())
		}
		return nil
	})
	p.Signal(syscall.SIGINT)
	select {
	case <-p.Done():
		if err := p.Err(); err != nil || stdout.String() != "{}\n" || p.Log() != "" {
			t.Errorf("after Ctrl-C: %v, stdout %q, stderr %q", err, stdout.String(), p.Log())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("state --watch did not stop on Ctrl-C")
	}
}
