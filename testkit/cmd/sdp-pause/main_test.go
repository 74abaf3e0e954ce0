package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// The tests run this test binary as sdp-pause: TestMain turns into main
// when this is set.
const runMainEnv = "SDP_PAUSE_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func pauseCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

// exitCode waits for cmd up to d and returns its exit code, -1 when a
// signal ended it.
func exitCode(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err == nil {
			return 0
		} else if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		t.Fatalf("wait: %v", err)
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %v later", d)
	}
	return 0
}

func TestStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := pauseCmd()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// It must block, not exit on its own.
			time.Sleep(300 * time.Millisecond)
			if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
				t.Fatalf("gone before the signal: %v", err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := exitCode(t, cmd, 5*time.Second); code != 0 {
				t.Errorf("exit code %d after %v, want 0", code, sig)
			}
		})
	}
}

// A shell starts a short-lived child and then execs the program under
// test in its own place, so that the child's parent is that program — as
// an orphan's parent is the pause process when it is a pod's PID 1.
func TestReapsChildren(t *testing.T) {
	for _, tc := range []struct {
		name     string
		program  []string // exec'd by the shell
		wantReap bool
	}{
		{"sdp-pause reaps", []string{os.Args[0]}, true},
		// The control: a parent that never waits leaves a zombie, which
		// the test must see.
		{"control: sleep leaves a zombie", []string{"sleep", "30"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sh", append([]string{"-c", `sleep 0.2 & echo $!; exec "$@"`, "sh"}, tc.program...)...)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
			})
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			child, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("child pid %q: %v", line, err)
			}
			state := func() string {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
				if err != nil {
					return "gone"
				}
				// pid (comm) state ...: comm may hold spaces, not ')'.
				s := string(b)
				f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
				return f[0]
			}
			// The verdict is the state after the waits: they end early
			// only to save time, so their own timeouts are no failure.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = eventually.Poll(ctx, 0, 20*time.Millisecond, func(context.Context) error {
				if s := state(); s != "gone" && s != "Z" {
					return fmt.Errorf("state %s", s)
				}
				return nil
			})
			if !tc.wantReap {
				// A moment more, as sdp-pause gets to reap it.
				time.Sleep(300 * time.Millisecond)
			} else {
				// A zombie that is reaped goes: wait for that too.
				_ = eventually.Poll(ctx, 0, 20*time.Millisecond, func(context.Context) error {
					if s := state(); s != "gone" {
						return fmt.Errorf("state %s", s)
					}
					return nil
				})
			}
			got := state()
			if tc.wantReap && got != "gone" {
				t.Errorf("child %d is in state %s, want reaped", child, got)
			}
			if !tc.wantReap && got != "Z" {
				t.Errorf("child %d is in state %s, want a zombie (the test cannot tell reaping apart)", child, got)
			}
		})
	}
}
