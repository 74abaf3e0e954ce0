//go:build unix

// Command sdp-demo runs the whole Helm Deployer locally (what `make run`
// runs): the local control plane, deploy/, a chart repository of the
// example charts, the three services and a demo deployment, printing the
// deployment's state entry as it changes, until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/tools/demo"
)

func main() {
	root := flag.String("root", ".", "repository root (deploy/, charts/examples/)")
	bin := flag.String("bin", "bin", "directory of the service binaries")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "sdp-demo"), "work directory: logs, kubeconfig, chart repository")
	onNodes := flag.Bool("cluster", false, "run the services as pods of the umbrella chart on two real nodes (make run-cluster)")
	until := flag.Bool("until-running", false, "exit 0 once the demo pod is RUNNING and the networks are mirrored")
	timeout := flag.Duration("timeout", 0, "give up after this long (0: run until Ctrl-C)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, *timeout, fmt.Errorf("timed out after %v", *timeout))
		defer cancel()
	}
	start := time.Now()
	o := demo.Options{Root: *root, BinDir: *bin, Dir: *dir, UntilRunning: *until, Out: os.Stdout, Log: log}
	run := demo.Run
	if *onNodes {
		run = demo.RunCluster
	}
	err := run(ctx, o)
	if err == nil && *until && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		log.Error("demo failed", "error", err)
		os.Exit(1)
	}
	log.Info("demo stopped; every process it started is gone", "ran", time.Since(start).Round(time.Second).String())
}
