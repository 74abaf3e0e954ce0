// Package app wires the release-manager's parts: the Helm runner, the
// release index, the chart source and the reconciler. The index and the
// chart source run for the life of the process, so a standby replica is
// ready to take over at once; a reconciler (with its work queue) is built
// for each term of leadership.
package app

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/charts"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/reconciler"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/releaseindex"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

// Options are the release-manager's command-line settings.
type Options struct {
	Reconciler reconciler.Options
	// PlainHTTPRegistry pulls oci:// charts without TLS.
	PlainHTTPRegistry bool
	// CacheDir holds the chart repository index.
	CacheDir string
	// Resync is the informer resync period of the release index.
	Resync time.Duration
	// ClusterKinds lists the cluster-scoped kinds charts may create, as
	// confine.ParseKinds reads them; empty allows none.
	ClusterKinds string
}

// Bind registers the options on fs.
func (o *Options) Bind(fs *flag.FlagSet) {
	o.Reconciler.Bind(fs)
	fs.BoolVar(&o.PlainHTTPRegistry, "oci-plain-http", false, "pull oci:// charts over plain HTTP (local registries)")
	fs.StringVar(&o.CacheDir, "cache-dir", filepath.Join(os.TempDir(), "release-manager"), "where the chart repository index is kept")
	fs.DurationVar(&o.Resync, "resync", 10*time.Minute, "how often every owned release is looked at again even without a change")
	kinds, ok := os.LookupEnv("SDP_ALLOWED_CLUSTER_KINDS")
	if !ok {
		kinds = confine.DefaultKinds
	}
	fs.StringVar(&o.ClusterKinds, "allowed-cluster-kinds", kinds,
		"cluster-scoped kinds charts may create, comma-separated Kind (core API group) or Kind.group; empty: none (env SDP_ALLOWED_CLUSTER_KINDS)")
}

// New builds the release-manager and returns the function that runs it
// for each term of leadership.
func New(rt *service.Runtime, cfg *rest.Config, opts Options) (func(ctx context.Context) error, error) {
	allowed, err := confine.ParseKinds(opts.ClusterKinds)
	if err != nil {
		return nil, fmt.Errorf("allowed cluster-scoped kinds: %w", err)
	}
	helm, err := helmexec.New(cfg, rt.Env.HelmNamespace, rt.Log)
	if err != nil {
		return nil, err
	}
	helm.SetConfine(confine.Confiner{Namespace: rt.Env.HelmNamespace, Allowed: allowed})
	rt.Log.Info("charts may create these cluster-scoped kinds", "allowed_cluster_kinds", allowed.String())
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	index := releaseindex.New(mc, rt.Env.HelmNamespace, opts.Resync)
	helm.SetKnown(func(name string) bool { _, ok := index.Latest(name); return ok })
	var current atomic.Pointer[reconciler.Reconciler]
	source, err := charts.New(charts.Options{
		RepoURL: rt.Env.ChartRepoURL, Refresh: rt.Env.ChartRepoRefresh,
		HTTPClient: &http.Client{Timeout: time.Minute}, PlainHTTPRegistry: opts.PlainHTTPRegistry,
		CacheDir: opts.CacheDir, Log: rt.Log,
		OnIndexChange: func() {
			if r := current.Load(); r != nil {
				r.Resync()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	if err := index.OnChange(func(name string) {
		if r := current.Load(); r != nil {
			r.ReleaseChanged(name)
		}
	}); err != nil {
		return nil, fmt.Errorf("release index: %w", err)
	}
	metrics := reconciler.NewMetrics(rt.Registry, index.CountByStatus)
	go index.Run(rt.Context())
	go source.Run(rt.Context())

	var leading atomic.Bool
	rt.Health.AddReadiness("release-manager", func(ctx context.Context) error {
		if !leading.Load() {
			return nil // a standby replica is ready to take over
		}
		if r := current.Load(); r != nil {
			return r.Ready(ctx)
		}
		return fmt.Errorf("starting")
	})
	return func(ctx context.Context) error {
		leading.Store(true)
		defer leading.Store(false)
		// Discovery, capabilities and the validator are loaded before any
		// work, so the first installs do not pay for them.
		for {
			err := helm.WarmUp(ctx)
			if err == nil {
				break
			}
			rt.Log.Warn("kubernetes API not ready; retrying", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
		}
		mapper, err := helm.RESTMapper()
		if err != nil {
			return fmt.Errorf("REST mapper: %w", err)
		}
		if !cache.WaitForCacheSync(ctx.Done(), index.HasSynced) {
			return nil
		}
		rt.Log.Info("release index synced", "releases", len(index.Names()))
		r := reconciler.New(reconciler.Config{
			Store: rt.Store, Helm: helm, Charts: source, Index: index,
			Confine: confine.Confiner{Namespace: rt.Env.HelmNamespace, Allowed: allowed, Mapper: mapper},
			Prefix:  rt.Env.HelmPrefix, Timeout: rt.Env.HelmTimeout, Options: opts.Reconciler, Log: rt.Log,
		}, metrics, rt.Registry)
		current.Store(r)
		go refreshCapabilities(ctx, rt, helm)
		return r.Run(ctx)
	}, nil
}

// refreshCapabilities keeps .Capabilities current for charts that test
// for APIs, as Helm would by re-reading discovery before each action.
func refreshCapabilities(ctx context.Context, rt *service.Runtime, h *helmexec.Runner) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := h.RefreshCapabilities(); err != nil {
				rt.Log.Warn("refresh cluster capabilities", "error", err)
			}
		}
	}
}
