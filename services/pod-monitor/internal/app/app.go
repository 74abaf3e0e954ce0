// Package app wires the pod-monitor: the pod cache runs for the life of
// the process (a standby replica stays warm), and a monitor with its work
// queue is built for each term of leadership.
package app

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/monitor"
	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

// Options are the pod-monitor's command-line settings.
type Options struct {
	Workers int
	Resync  time.Duration
}

// Bind registers the options on fs.
func (o *Options) Bind(fs *flag.FlagSet) {
	fs.IntVar(&o.Workers, "workers", 4, "deployments whose pods map is written in parallel")
	fs.DurationVar(&o.Resync, "resync", 10*time.Minute, "informer resync period")
}

// New builds the pod-monitor and returns the function that runs it for
// each term of leadership.
func New(rt *service.Runtime, cfg *rest.Config, opts Options) (func(ctx context.Context) error, error) {
	if os.Getenv("GOGC") == "" {
		// A small, steady heap (a cache of trimmed pods) whose garbage comes
		// from decoding pod events: collecting at 50 % growth instead of
		// 100 % measured 46 MiB resident at 5,000 pods instead of 52 MiB,
		// for a little CPU (docs/benchmarks/pod-monitor.md).
		debug.SetGCPercent(50)
	}
	lw, err := podcache.ListWatch(cfg, rt.Env.HelmNamespace)
	if err != nil {
		return nil, err
	}
	pods, err := podcache.New(lw, rt.Env.HelmPrefix, opts.Resync)
	if err != nil {
		return nil, err
	}
	var current atomic.Pointer[monitor.Monitor]
	metrics := monitor.NewMetrics(rt.Registry, pods.CountByStatus)
	go pods.Run(rt.Context())

	var leading atomic.Bool
	rt.Health.AddReadiness("pod-monitor", func(ctx context.Context) error {
		if !leading.Load() {
			return nil // a standby replica is ready to take over
		}
		if !pods.HasSynced() {
			return fmt.Errorf("pod cache not synced")
		}
		if m := current.Load(); m != nil {
			return m.Ready(ctx)
		}
		return fmt.Errorf("starting")
	})
	return func(ctx context.Context) error {
		leading.Store(true)
		defer leading.Store(false)
		if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
			return nil
		}
		m := monitor.New(monitor.Config{Store: rt.Store, Pods: pods, Workers: opts.Workers, Log: rt.Log}, metrics, rt.Registry)
		// A handler added to a running informer is first given every cached
		// pod, so the term starts from the whole cache and then follows it.
		handler, err := pods.Informer().AddEventHandler(m.EventHandler())
		if err != nil {
			return fmt.Errorf("pod events: %w", err)
		}
		defer func() { _ = pods.Informer().RemoveEventHandler(handler) }()
		current.Store(m)
		defer current.Store(nil)
		return m.Run(ctx)
	}, nil
}
