//go:build unix

// Command localcp runs a local Kubernetes control plane (etcd, kube-apiserver
// and optionally kube-controller-manager, kube-scheduler and kwok) for the
// demo and for manual testing, until interrupted.
//
//	localcp up [--dir D] [--with-kcm] [--with-scheduler] [--with-kwok] [--all]
//
// It writes D/kubeconfig and D/env (KUBECONFIG=…, ETCD_ENDPOINT=…,
// SDP_CONFIG_HOST=…, SDP_CONFIG_PORT=…), prints the env lines on stdout, and
// on SIGINT or SIGTERM stops every child process by its PID. Binaries come
// from `make controlplane-binaries`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `usage: localcp up [flags]

Runs a local Kubernetes control plane until SIGINT/SIGTERM.

flags of up:
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "up" {
		usage(stderr)
		upFlags(new(upOptions)).PrintDefaults()
		return 2
	}
	var o upOptions
	fs := upFlags(&o)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "localcp up: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := up(o, logger, stdout); err != nil {
		logger.Error("localcp up failed", "err", err)
		if errors.Is(err, localcp.ErrBinariesMissing) {
			return 3
		}
		return 1
	}
	return 0
}

type upOptions struct {
	dir                 string
	binDir              string
	kcm, sched, kwok    bool
	all, verbose        bool
	startTimeout        time.Duration
	extraAPIServerFlags string
}

func upFlags(o *upOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("localcp up", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", filepath.Join(filepath.Dir(localcp.DefaultBinDir()), "run"),
		"work directory: kubeconfig, env, certificates, etcd data, logs")
	fs.StringVar(&o.binDir, "bin-dir", "", "directory of the binaries (default "+localcp.DefaultBinDir()+")")
	fs.BoolVar(&o.kcm, "with-kcm", false, "also run kube-controller-manager")
	fs.BoolVar(&o.sched, "with-scheduler", false, "also run kube-scheduler")
	fs.BoolVar(&o.kwok, "with-kwok", false, "also run kwok with fake node "+localcp.KwokNodeName)
	fs.BoolVar(&o.all, "all", false, "run every component (same as --with-kcm --with-scheduler --with-kwok)")
	fs.BoolVar(&o.verbose, "v", false, "debug logging")
	fs.DurationVar(&o.startTimeout, "start-timeout", 3*time.Minute, "how long start-up may take")
	fs.StringVar(&o.extraAPIServerFlags, "apiserver-flags", "", "extra kube-apiserver flags, space separated")
	return fs
}

func up(o upOptions, logger *slog.Logger, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := localcp.Options{
		Dir:               o.dir,
		BinDir:            o.binDir,
		ControllerManager: o.kcm || o.all,
		Scheduler:         o.sched || o.all,
		Kwok:              o.kwok || o.all,
		APIServerArgs:     strings.Fields(o.extraAPIServerFlags),
		StartTimeout:      o.startTimeout,
		Logger:            logger,
	}
	logger.Info("starting local control plane", "dir", o.dir,
		"kube-controller-manager", opts.ControllerManager, "kube-scheduler", opts.Scheduler, "kwok", opts.Kwok)
	cp, err := localcp.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer cp.Stop()

	env := strings.Join(cp.Env(), "\n") + "\n"
	envPath := filepath.Join(cp.Dir, "env")
	if err := os.WriteFile(envPath, []byte(env), 0o644); err != nil {
		return err
	}
	fmt.Fprint(stdout, env)
	logger.Info("control plane up; stop with Ctrl-C or SIGTERM",
		"env", envPath, "kubeconfig", cp.KubeconfigPath, "startup", cp.StartupDuration.Round(time.Millisecond),
		"pids", cp.PIDs(), "logs", filepath.Join(cp.Dir, "logs"))

	// Run until a signal, or until a component dies on its own.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			logger.Info("signal received: stopping control plane")
			if err := cp.Stop(); err != nil {
				return err
			}
			logger.Info("control plane stopped")
			return nil
		case <-tick.C:
			if err := cp.Exited(); err != nil {
				_ = cp.Stop()
				return fmt.Errorf("a component exited: %w", err)
			}
		}
	}
}
