// Package app wires the resource-monitor: the NAD cache runs for the life
// of the process (a standby replica stays warm), and a mirror with its work
// queue is built for each term of leadership.
//
// It sits between main and the mirror; docs/architecture.md, §1. The rooms.
package app

import (
	"context"
	"flag"
	"fmt"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/mirror"
	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

// Options are the resource-monitor's command-line settings.
type Options struct {
	// DBResync is how often the owned /resource/ entries are re-read from
	// the config DB to repair changes made there by others.
	DBResync time.Duration
	// DBTimeout bounds the config DB calls of one reconcile.
	DBTimeout time.Duration
}

// Bind registers the options on fs.
func (o *Options) Bind(fs *flag.FlagSet) {
	fs.DurationVar(&o.DBResync, "db-resync", 10*time.Minute,
		"how often the owned /resource/ entries are re-read from the config DB, to repair changes made there by others (0: only at start and after errors)")
	fs.DurationVar(&o.DBTimeout, "db-timeout", 10*time.Second,
		"time limit of the config DB calls of one reconcile; when it runs out the reconcile is retried with backoff")
}

// New builds the resource-monitor and returns the function that runs it
// for each term of leadership.
func New(rt *service.Runtime, cfg *rest.Config, opts Options) (func(ctx context.Context) error, error) {
	// Its one client serves the NAD informer, whose watches must outlive
	// the request timeout.
	dyn, err := dynamic.NewForConfig(kube.ForWatches(cfg))
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	nads, err := nadcache.New(dyn, 0, rt.Log)
	if err != nil {
		return nil, err
	}
	metrics := mirror.NewMetrics(rt.Registry)
	go nads.Run(rt.Context())

	terms := controller.NewRuntime(controller.Spec[*mirror.Mirror]{
		Caches: []controller.Cache{{HasSynced: nads.HasSynced, NotSynced: "NetworkAttachmentDefinitions not listed yet"}},
		Build: func(ctx context.Context) (*mirror.Mirror, error) {
			// Every config DB write of the term is conditioned on its
			// election key, in the write's own transaction.
			term := leader.TermFrom(ctx)
			return mirror.New(mirror.Config{Store: rt.Store.Fenced(term.Fence()), Term: term, NADs: nads, Log: rt.Log, Resync: opts.DBResync, Timeout: opts.DBTimeout}, metrics, rt.Registry), nil
		},
		Watches: func(m *mirror.Mirror) []controller.Watch {
			return []controller.Watch{{Name: "NAD", Informer: nads.Informer(), Handler: m.EventHandler()}}
		},
	})
	rt.Health.AddReadiness("nad-informer", terms.Ready)
	return terms.Lead, nil
}
