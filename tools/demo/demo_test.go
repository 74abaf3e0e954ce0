package demo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
)

// TestMakeRun is `make run` end to end: everything starts from the
// repository's own files, the demo pod reaches RUNNING in the printed state
// entry, the example networks appear under /resource/, and afterwards no
// process the demo started is left.
func TestMakeRun(t *testing.T) {
	if _, err := os.Stat(filepath.Join(localcp.DefaultBinDir(), "kube-apiserver")); err != nil {
		if os.Getenv("SDP_REQUIRE_CONTROLPLANE") == "1" {
			t.Fatalf("control plane binaries missing: %v", err)
		}
		t.Skip("SKIP!!! control plane binaries not built: run make controlplane-binaries")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, s := range Services {
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/"+s)
		cmd.Dir = filepath.Join(root, "services", s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", s, err, out)
		}
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	err = Run(ctx, Options{Root: root, BinDir: bin, Dir: dir, UntilRunning: true, Out: &out, Log: log})
	if err != nil || ctx.Err() != nil {
		t.Fatalf("demo: %v (ctx %v)\n%s", err, ctx.Err(), out.String())
	}
	for _, want := range []string{`"status": "deployed"`, `"RUNNING"`, "/resource/network-attachment-definition:sdp:vis-net-a", "/resource/supernet:vis-supernet",
		"prometheus: http://127.0.0.1:", "prometheus: every service scraped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "not-for-sdp") {
		t.Error("the unlabelled NAD was mirrored")
	}
	// Nothing the demo started is left: no process has its work directory
	// or binaries on its command line.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmdline := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		if strings.Contains(cmdline, dir) || strings.Contains(cmdline, bin) {
			pid := filepath.Base(filepath.Dir(p))
			t.Errorf("process %s left running: %s", pid, cmdline)
			if n, err := strconv.Atoi(pid); err == nil {
				_ = syscall.Kill(n, syscall.SIGKILL)
			}
		}
	}
}
