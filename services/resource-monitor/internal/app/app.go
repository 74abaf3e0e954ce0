// Package app wires the resource-monitor: the NAD cache runs for the life
// of the process (a standby replica stays warm), and a mirror with its work
// queue is built for each term of leadership.
package app

import (
	"context"
	"flag"
	"fmt"
	"sync/atomic"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/mirror"
	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/nadcache"
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
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	nads, err := nadcache.New(dyn, 0, rt.Log)
	if err != nil {
		return nil, err
	}
	metrics := mirror.NewMetrics(rt.Registry)
	go nads.Run(rt.Context())

	var (
		leading atomic.Bool
		current atomic.Pointer[mirror.Mirror] // of this term, nil between terms
	)
	rt.Health.AddReadiness("nad-informer", func(context.Context) error {
		if !leading.Load() {
			return nil // a standby replica is ready to take over
		}
		if !nads.HasSynced() {
			return fmt.Errorf("NetworkAttachmentDefinitions not listed yet")
		}
		if m := current.Load(); m == nil || !m.InSync() {
			return fmt.Errorf("resource entries not reconciled yet in this term")
		}
		return nil
	})
	return func(ctx context.Context) error {
		leading.Store(true)
		defer leading.Store(false)
		if !cache.WaitForCacheSync(ctx.Done(), nads.HasSynced) {
			return nil
		}
		m := mirror.New(mirror.Config{Store: rt.Store, NADs: nads, Log: rt.Log, Resync: opts.DBResync, Timeout: opts.DBTimeout}, metrics, rt.Registry)
		current.Store(m)
		defer current.Store(nil)
		// Registering on a running informer replays every cached NAD as an
		// add: the first reconcile of the term sees them all.
		reg, err := nads.Informer().AddEventHandler(m.EventHandler())
		if err != nil {
			return fmt.Errorf("NAD events: %w", err)
		}
		defer func() { _ = nads.Informer().RemoveEventHandler(reg) }()
		return m.Run(ctx)
	}, nil
}
