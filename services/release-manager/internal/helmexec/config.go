// The configuration every action runs with: the shared REST mapper,
// capabilities and validator, warmed up once, and a fresh
// action.Configuration per action over them.

package helmexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/storage"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
)

func helmLog(log *slog.Logger) func(string, ...any) {
	return func(format string, args ...any) {
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug("helm", "detail", fmt.Sprintf(format, args...))
		}
	}
}

// RESTMapper is the shared mapper, for checks of rendered manifests.
func (r *Runner) RESTMapper() (meta.RESTMapper, error) {
	if r.getter == nil {
		return nil, errors.New("no REST client getter")
	}
	return r.getter.ToRESTMapper()
}

// WarmUp fills the discovery cache, computes the capabilities and builds
// the validator, so that the first installs do not pay for them; the
// service says it is ready only after this.
func (r *Runner) WarmUp(ctx context.Context) error {
	if err := r.RefreshCapabilities(); err != nil {
		return err
	}
	if r.getter == nil {
		return nil
	}
	mapper, err := r.getter.ToRESTMapper()
	if err != nil {
		return err
	}
	// One lookup loads the mapper's discovery data.
	if _, err := mapper.RESTMapping(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "v1"); err != nil {
		return fmt.Errorf("warm up REST mapper: %w", err)
	}
	kc, ok := r.kube.(*kubeClient)
	if !ok {
		return nil // a test's kube client has no validator to warm up
	}
	if _, err := kc.Factory.Validator("Strict"); err != nil {
		return fmt.Errorf("warm up validator: %w", err)
	}
	return ctx.Err()
}

// RefreshCapabilities reads the cluster's version and API versions again,
// for charts that test .Capabilities. Helm would do this (and throw away the
// discovery cache) before every action.
func (r *Runner) RefreshCapabilities() error {
	if r.getter == nil {
		return nil
	}
	dc, err := r.getter.ToDiscoveryClient()
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	dc.Invalidate()
	kv, err := dc.ServerVersion()
	if err != nil {
		return fmt.Errorf("kubernetes server version: %w", err)
	}
	vs, err := action.GetVersionSet(dc)
	if err != nil {
		return fmt.Errorf("kubernetes API versions: %w", err)
	}
	r.caps.Store(&chartutil.Capabilities{
		APIVersions: vs,
		KubeVersion: chartutil.KubeVersion{Version: kv.GitVersion, Major: kv.Major, Minor: kv.Minor},
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	})
	return nil
}

// config is a fresh Configuration over the shared parts: actions keep
// state in their Configuration, so each gets its own, which measured as
// fast as sharing one. Only Install may use the storage that answers "no
// such release" from the release index: the index can lag (its watch is
// re-established only after a backoff when the API server comes back), and
// an upgrade or uninstall told that an existing release is absent fails
// ("has no deployed releases") or, worse, succeeds without removing it.
//
// Its Kubernetes client is confined, and the action's own: Explain the
// action's error with it.
func (r *Runner) config(name string) (*action.Configuration, *confine.Client) {
	return r.configWith(r.live, name, r.kube)
}

// configWith gives the action on release name its own storage over the
// driver of shared, which reads the release's history once per action
// (actionHistory), or not at all when Last has just read it, and a
// confined client over base.
func (r *Runner) configWith(shared *storage.Storage, name string, base kube.Interface) (*action.Configuration, *confine.Client) {
	h := newActionHistory(shared.Driver)
	h.deleteSecret = r.deleteSecret
	if revs, ok := r.takeRead(name); ok {
		h.seed(name, revs)
	}
	releases := storage.Init(h)
	releases.Log = shared.Log
	c := confine.Confiner{Namespace: r.namespace}
	if set := r.confine.Load(); set != nil {
		c = *set
	}
	if c.Mapper == nil && r.getter != nil {
		// Hooks are built by the action: the mapper names the APIs the
		// cluster does not serve before Helm's validator fails on them.
		if m, err := r.getter.ToRESTMapper(); err == nil {
			c.Mapper = m
		}
	}
	kc := c.Client(base)
	return &action.Configuration{
		RESTClientGetter: r.getter,
		Releases:         releases,
		KubeClient:       kc,
		Capabilities:     r.caps.Load(),
		Log:              helmLog(r.log),
	}, kc
}
