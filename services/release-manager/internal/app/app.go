// Package app wires the release-manager's parts: the Helm runner, the
// release index, the chart source and the reconciler. The index and the
// chart source run for the life of the process, so a standby replica is
// ready to take over at once; a reconciler (with its work queue) is built
// for each term of leadership.
//
// It sits between main and the reconciler; docs/architecture.md, §1. The rooms.
package app

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/charts"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/drift"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/helmexec"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/reconciler"
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/releaseindex"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
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
	// ChartRepos are named chart repositories, name=url pairs separated
	// by commas (SDP_CHART_REPOS); they take precedence over Helm's
	// repositories.yaml, which takes precedence over the defaults.
	ChartRepos string
	// RepositoryConfig is Helm's repositories.yaml; empty: where Helm
	// finds it (HELM_REPOSITORY_CONFIG, else under HELM_CONFIG_HOME or
	// XDG_CONFIG_HOME).
	RepositoryConfig string
	// VerifyDigest refuses chart archives whose digest differs from their
	// repository index (SDP_CHART_VERIFY_DIGEST).
	VerifyDigest bool
	// envErr is a bad value of an environment variable behind a flag,
	// reported by New.
	envErr error
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
	fs.StringVar(&o.ChartRepos, "chart-repos", os.Getenv("SDP_CHART_REPOS"),
		"named chart repositories for <repo>/<chart>, name=url[,name=url...]; over Helm's repositories.yaml, over the defaults helmdeploy (SDP_CHART_REPO_URL) and dask (env SDP_CHART_REPOS)")
	fs.StringVar(&o.RepositoryConfig, "repository-config", "",
		"Helm repositories.yaml to read named chart repositories from (default: where Helm finds it, $HELM_REPOSITORY_CONFIG or $HELM_CONFIG_HOME/repositories.yaml)")
	fs.BoolVar(&o.VerifyDigest, "chart-verify-digest", false,
		"refuse chart archives whose digest differs from their repository index, which Helm installs (env SDP_CHART_VERIFY_DIGEST)")
	if v, ok := os.LookupEnv("SDP_CHART_VERIFY_DIGEST"); ok && v != "" {
		if err := fs.Set("chart-verify-digest", v); err != nil {
			o.envErr = fmt.Errorf("SDP_CHART_VERIFY_DIGEST=%q: not true or false", v)
		}
	}
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
	if err := opts.Reconciler.FromEnv(os.LookupEnv); err != nil {
		return nil, err
	}
	allowed, err := confine.ParseKinds(opts.ClusterKinds)
	if err != nil {
		return nil, fmt.Errorf("allowed cluster-scoped kinds: %w", err)
	}
	// The Helm actions' client sends no write once the term has ended
	// (checked locally, per request): an action that was under way when
	// the process was paused cannot change the cluster when it resumes.
	guard := leader.NewGuard(rt.Fencing)
	helmCfg := rest.CopyConfig(cfg)
	kube.GuardWrites(helmCfg, guard.CheckWrite)
	helm, err := helmexec.New(helmCfg, rt.Env.HelmNamespace, rt.Log)
	if err != nil {
		return nil, err
	}
	helm.SetConfine(confine.Confiner{Namespace: rt.Env.HelmNamespace, Allowed: allowed})
	rt.Log.Info("charts may create these cluster-scoped kinds", "allowed_cluster_kinds", allowed.String())
	// The index is an informer: its watches must outlive the request timeout.
	mc, err := metadata.NewForConfig(kube.ForWatches(cfg))
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	index := releaseindex.New(mc, rt.Env.HelmNamespace, opts.Resync)
	helm.SetKnown(func(name string) bool { _, ok := index.Latest(name); return ok })
	var terms *controller.Runtime[*reconciler.Reconciler]
	if opts.envErr != nil {
		return nil, opts.envErr
	}
	repos, err := charts.ParseRepos(opts.ChartRepos)
	if err != nil {
		return nil, err
	}
	if opts.RepositoryConfig == "" {
		opts.RepositoryConfig = charts.RepositoryConfigPath()
	}
	source, err := charts.New(charts.Options{
		RepoURL: rt.Env.ChartRepoURL, Repos: repos, RepositoryConfig: opts.RepositoryConfig, Refresh: rt.Env.ChartRepoRefresh,
		HTTPClient: &http.Client{Timeout: time.Minute}, PlainHTTPRegistry: opts.PlainHTTPRegistry,
		CacheDir: opts.CacheDir, VerifyDigest: opts.VerifyDigest, Registerer: rt.Registry, Log: rt.Log,
		OnIndexChange: func() {
			if r, ok := terms.Current(); ok {
				r.Resync()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	rt.Log.Info("chart repositories", "default", source.DefaultURL(), "named", source.Repositories(), "repository_config", opts.RepositoryConfig)
	if err := index.OnChange(func(name string) {
		if r, ok := terms.Current(); ok {
			r.ReleaseChanged(name)
		}
	}); err != nil {
		return nil, fmt.Errorf("release index: %w", err)
	}
	kubeReady, err := kube.Readyz(cfg)
	if err != nil {
		return nil, err
	}
	metrics := reconciler.NewMetrics(rt.Registry, index.CountByStatus)
	terms = controller.NewRuntime(controller.Spec[*reconciler.Reconciler]{
		Caches: []controller.Cache{{HasSynced: index.HasSynced, NotSynced: "release index not synced"}},
		Build: func(ctx context.Context) (*reconciler.Reconciler, error) {
			// Discovery, capabilities and the validator are loaded before
			// any work, so the first installs do not pay for them.
			if err := wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
				if err := helm.WarmUp(ctx); err != nil {
					rt.Log.Warn("kubernetes API not ready; retrying", "error", err)
					return false, nil
				}
				return true, nil
			}); err != nil {
				return nil, err
			}
			mapper, err := helm.RESTMapper()
			if err != nil {
				return nil, fmt.Errorf("REST mapper: %w", err)
			}
			rt.Log.Info("release index synced", "releases", len(index.Names()))
			term := leader.TermFrom(ctx)
			var r *reconciler.Reconciler
			objects, err := releaseObjects(ctx, rt, cfg, helmCfg, mapper, helm, opts, metrics, func(name string) { r.ObjectsChanged(name) })
			if err != nil {
				return nil, err
			}
			r = reconciler.New(reconciler.Config{
				Store: rt.Store.Fenced(term.Fence()), Term: term, Helm: helm, Charts: source, Index: index,
				Confine: confine.Confiner{Namespace: rt.Env.HelmNamespace, Allowed: allowed, Mapper: mapper},
				Prefix:  rt.Env.HelmPrefix, Timeout: rt.Env.HelmTimeout, Options: opts.Reconciler, Log: rt.Log,
				KubeReady: kubeReady, Objects: objects,
			}, metrics, rt.Registry)
			go refreshCapabilities(ctx, rt, helm)
			return r, nil
		},
	})
	rt.Health.AddReadiness("release-manager", terms.Ready)
	// The callbacks above reach the term through terms, set by now.
	go index.Run(rt.Context())
	go source.Run(rt.Context())
	return func(ctx context.Context) error {
		guard.Enter(leader.TermFrom(ctx))
		return terms.Lead(ctx)
	}, nil
}

// releaseObjects builds the term's drift checker and readiness reader: its
// informers stop with the term. Corrections are written through the
// guarded configuration, like Helm's actions. nil when drift is off.
func releaseObjects(ctx context.Context, rt *service.Runtime, cfg, writeCfg *rest.Config, mapper meta.RESTMapper, helm *helmexec.Runner,
	opts Options, metrics *reconciler.Metrics, onChange func(string)) (reconciler.Objects, error) {
	modes := opts.Reconciler.DriftModes()
	if modes.Deleted == drift.Off && modes.Changed == drift.Off {
		rt.Log.Info("drift of releases' objects not watched (drift mode off)")
		return nil, nil
	}
	mc, err := metadata.NewForConfig(kube.ForWatches(cfg))
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(writeCfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	checker := drift.New(ctx, drift.Config{Namespace: rt.Env.HelmNamespace, Mapper: mapper, Dynamic: dyn, Metadata: mc,
		Manifest: helm.Manifest, Modes: modes, OnChange: onChange, Events: metrics.Drift, Log: rt.Log})
	rt.Log.Info("drift of releases' objects watched", "deleted", string(modes.Deleted), "changed", string(modes.Changed))
	return reconciler.ReleaseObjects{Checker: checker, Dynamic: dyn, Namespace: rt.Env.HelmNamespace}, nil
}

// refreshCapabilities keeps .Capabilities current for charts that test
// for APIs, as Helm would by re-reading discovery before each action.
func refreshCapabilities(ctx context.Context, rt *service.Runtime, h *helmexec.Runner) {
	controller.Every(ctx, 5*time.Minute, func(context.Context) {
		if err := h.RefreshCapabilities(); err != nil {
			rt.Log.Warn("refresh cluster capabilities", "error", err)
		}
	})
}
