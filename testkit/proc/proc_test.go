//go:build unix

package proc

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, script string, header bool) *Process {
	t.Helper()
	p, err := Start(Options{Name: "sh", Bin: "/bin/sh", Args: []string{"-c", script}, LogPath: filepath.Join(t.TempDir(), "sh.log"), Header: header})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

func TestExitCodeAndLog(t *testing.T) {
	p := start(t, "echo out; echo err >&2; exit 3", true)
	<-p.Done()
	if got := p.ExitCode(); got != 3 {
		t.Errorf("exit code %d, want 3", got)
	}
	log := p.Log()
	if !strings.HasPrefix(log, "# ") || !strings.Contains(log, "out\n") || !strings.Contains(log, "err\n") {
		t.Errorf("log lacks the header or the output:\n%s", log)
	}
	if got := p.Tail(2); got != "out\nerr" {
		t.Errorf("tail %q", got)
	}
	if !strings.Contains(p.ExitError().Error(), "err") {
		t.Errorf("exit error %v lacks the log's tail", p.ExitError())
	}
}

func TestStopTermThenKill(t *testing.T) {
	p := start(t, "sleep 60", false)
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if !p.Exited() || p.ExitCode() != -1 {
		t.Errorf("after SIGTERM: exited %v, code %d", p.Exited(), p.ExitCode())
	}
	// A process that ignores SIGTERM is killed after the grace period.
	p = start(t, "trap '' TERM; echo ready; while :; do sleep 0.05; done", false)
	if err := p.WaitFor(context.Background(), "ready", func(context.Context) error {
		if !strings.Contains(p.Log(), "ready") {
			return errors.New("not ready")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("stop of a process ignoring SIGTERM: %v, want killed", err)
	}
	if !p.Exited() {
		t.Error("still running")
	}
}

func TestWaitForExitAndTimeout(t *testing.T) {
	p := start(t, "echo dying; exit 1", false)
	err := p.WaitFor(context.Background(), "never", func(context.Context) error { return errors.New("no") })
	if err == nil || !strings.Contains(err.Error(), "exited early") || !strings.Contains(err.Error(), "dying") {
		t.Errorf("wait on an exited process: %v", err)
	}
	p = start(t, "sleep 60", false)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = p.WaitFor(ctx, "the moon", func(context.Context) error { return errors.New("not yet") })
	if err == nil || !strings.Contains(err.Error(), "the moon not reached") || !strings.Contains(err.Error(), "not yet") {
		t.Errorf("wait past the deadline: %v", err)
	}
}

func TestRestartAppends(t *testing.T) {
	p := start(t, "echo run", true)
	<-p.Done()
	q, err := p.Restart()
	if err != nil {
		t.Fatal(err)
	}
	<-q.Done()
	if n := strings.Count(q.Log(), "\nrun\n"); n != 2 {
		t.Errorf("%d runs in the log, want 2:\n%s", n, q.Log())
	}
}

func TestStdoutApart(t *testing.T) {
	var out strings.Builder
	p, err := Start(Options{Name: "sh", Bin: "/bin/sh", Args: []string{"-c", "echo out; echo err >&2"}, LogPath: filepath.Join(t.TempDir(), "sh.log"), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if out.String() != "out\n" || p.Log() != "err\n" {
		t.Errorf("stdout %q, log %q; want out and err apart", out.String(), p.Log())
	}
}
