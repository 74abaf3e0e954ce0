// Package app wires the pod-monitor: the pod cache runs for the life of
// the process (a standby replica stays warm), and a monitor with its work
// queue is built for each term of leadership.
//
// It sits between main and the monitor; docs/architecture.md, §1. The rooms.
package app

import (
	"context"
	"flag"
	"os"
	"runtime/debug"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/monitor"
	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/podcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
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
	metrics := monitor.NewMetrics(rt.Registry, pods.CountByStatus)
	go pods.Run(rt.Context())

	terms := controller.NewRuntime(controller.Spec[*monitor.Monitor]{
		Caches: []controller.Cache{{HasSynced: pods.HasSynced, NotSynced: "pod cache not synced"}},
		Build: func(ctx context.Context) (*monitor.Monitor, error) {
			// Every config DB write of the term is conditioned on its
			// election key, in the write's own transaction.
			term := leader.TermFrom(ctx)
			return monitor.New(monitor.Config{Store: rt.Store.Fenced(term.Fence()), Term: term, Pods: pods, Workers: opts.Workers, Log: rt.Log}, metrics, rt.Registry), nil
		},
		Watches: func(m *monitor.Monitor) []controller.Watch {
			return []controller.Watch{{Name: "pod", Informer: pods.Informer(), Handler: m.EventHandler()}}
		},
	})
	rt.Health.AddReadiness("pod-monitor", terms.Ready)
	return terms.Lead, nil
}
