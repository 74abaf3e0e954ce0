// Package helmexec is the release-manager's one seam to Helm: it builds
// action.Configuration by hand (Helm v3 has no constructor), sharing what is
// expensive among all actions — one REST client getter with cached discovery
// and REST mapper, one kube client with a validator built once, one Secret
// storage driver, Capabilities computed once — and runs install, upgrade and
// uninstall in-process. Tests swap the configuration for Helm's in-memory
// storage and fake kube client.
package helmexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
)

// MaxHistory bounds the revisions Helm keeps per release: enough to see
// what happened, few enough that Secrets do not pile up.
const MaxHistory = 5

// ErrNotFound is returned by Last when a release has no revision.
var ErrNotFound = driver.ErrReleaseNotFound

// ErrNameInUse is returned by Install when the release name already has a
// revision that the caller did not know of (the release index lagged).
var ErrNameInUse = errors.New("release name in use")

// helmNameInUse is the text of Helm's own refusal: Helm returns it as an
// untyped error (action.Install's availableName), so this seam is the one
// place that recognises it by text and turns it into ErrNameInUse.
const helmNameInUse = "cannot re-use a name that is still in use"

// Spec is what an install or upgrade applies.
type Spec struct {
	Name    string
	Chart   *chart.Chart
	Values  map[string]any
	Labels  map[string]string
	Timeout time.Duration
	// PostRenderer checks (or changes) the rendered manifests.
	PostRenderer postrender.PostRenderer
}

// Runner runs Helm actions in one namespace. It is safe for concurrent
// use; one release's actions must be serialised by the caller.
type Runner struct {
	namespace string
	getter    action.RESTClientGetter
	kube      kube.Interface
	// actionKube is a Kubernetes client of an upgrade's own, sharing
	// everything with kube but its transport, on which its Update reads
	// each object once (readOnce); nil in tests, which use kube.
	actionKube func() kube.Interface
	// releases serves installs (it skips the API server for names the
	// release index has never seen); live always reads the API server and
	// serves every other action and the reconciler's look before it acts.
	releases *storage.Storage
	live     *storage.Storage
	known    atomic.Pointer[func(string) bool]
	caps     atomic.Pointer[chartutil.Capabilities]
	// confine checks every object an action creates, updates or deletes,
	// hooks included; unset, nothing outside the namespace is allowed.
	confine atomic.Pointer[confine.Confiner]
	log     *slog.Logger
	// reads holds, by release, the history Last just read live, for the
	// next action on that release to start from instead of reading it
	// again (a label-selected LIST over every release Secret).
	readsMu sync.Mutex
	reads   map[string]historyRead
	// deleteSecret deletes a release Secret by name (nil in tests over
	// Helm's memory driver).
	deleteSecret func(name string) error
}

// historyRead is a release's history as a live read found it.
type historyRead struct {
	revs []*release.Release
	at   time.Time
}

// readFresh bounds how old a live read may be for an action to start
// from it: the reconciler reads, decides and acts within milliseconds;
// anything older is read again.
const readFresh = time.Second

// New returns a Runner for namespace on the cluster cfg points at, with
// releases stored as Secrets in that namespace.
func New(cfg *rest.Config, namespace string, log *slog.Logger) (*Runner, error) {
	getter := newRESTGetter(cfg, namespace)
	vs, reach := &validators{}, &reachability{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	secretsAPI := cs.CoreV1().Secrets(namespace)
	secrets := driver.NewSecrets(secretsAPI)
	secrets.Log = helmLog(log)
	r := &Runner{namespace: namespace, getter: getter, kube: newKubeClient(getter, namespace, vs, reach), log: log,
		deleteSecret: func(name string) error {
			return secretsAPI.Delete(context.Background(), name, metav1.DeleteOptions{})
		},
		actionKube: func() kube.Interface {
			reads := &readOnce{}
			return &readsOnceClient{kubeClient: newKubeClient(&actionGetter{restGetter: getter, reads: reads}, namespace, vs, reach), reads: reads}
		}}
	r.live = storage.Init(secrets)
	r.live.Log = helmLog(log)
	r.releases = storage.Init(&knownFirst{Secrets: secrets, known: r.isKnown})
	r.releases.Log = helmLog(log)
	return r, nil
}

// knownFirst answers Helm's history queries for a release name that the
// release index has never seen without asking the API server. Every install
// starts with such a query (is the name free?), which is a label-selected
// LIST over all release Secrets of the namespace: with hundreds of releases
// the costliest call of an install, and always empty for a new deployment.
// If the index lags and a release does exist, Helm's create of the release
// Secret fails and the reconciler reads the live history before retrying.
type knownFirst struct {
	*driver.Secrets
	known func(name string) bool
}

func (d *knownFirst) Query(labels map[string]string) ([]*release.Release, error) {
	if name, ok := labels["name"]; ok && !d.known(name) {
		return nil, driver.ErrReleaseNotFound
	}
	return d.Secrets.Query(labels)
}

// SetKnown gives the runner the release index's view of which release
// names exist; until it is set, every query goes to the API server.
func (r *Runner) SetKnown(known func(name string) bool) { r.known.Store(&known) }

func (r *Runner) isKnown(name string) bool {
	k := r.known.Load()
	return k == nil || (*k)(name)
}

// NewWith returns a Runner over the given parts, for tests: Helm's memory
// driver and fake kube client, with fixed capabilities.
func NewWith(namespace string, kc kube.Interface, store *storage.Storage, caps *chartutil.Capabilities, log *slog.Logger) *Runner {
	r := &Runner{namespace: namespace, kube: kc, releases: store, live: store, log: log}
	r.caps.Store(caps)
	return r
}

func helmLog(log *slog.Logger) func(string, ...any) {
	return func(format string, args ...any) {
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug("helm", "detail", fmt.Sprintf(format, args...))
		}
	}
}

// SetConfine sets what the Kubernetes client of every Helm action refuses;
// without a Mapper, the runner's own is used.
func (r *Runner) SetConfine(c confine.Confiner) { r.confine.Store(&c) }

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

// Install installs a new release.
func (r *Runner) Install(ctx context.Context, s Spec) (*release.Release, error) {
	cfg, kc := r.configWith(r.releases, s.Name, r.kube)
	in := action.NewInstall(cfg)
	in.ReleaseName = s.Name
	in.Namespace = r.namespace
	in.Timeout = s.Timeout
	in.Labels = s.Labels
	in.PostRenderer = s.PostRenderer
	rel, err := in.RunWithContext(ctx, s.Chart, s.Values)
	if err != nil && (errors.Is(err, driver.ErrReleaseExists) || strings.Contains(err.Error(), helmNameInUse)) {
		return rel, fmt.Errorf("helm install %s: %w: %w", s.Name, ErrNameInUse, err)
	}
	if err != nil {
		return rel, fmt.Errorf("helm install %s: %w", s.Name, kc.Explain(err))
	}
	return rel, nil
}

// Upgrade upgrades a release, from a deployed or a failed revision; values
// are the deployment's, not merged with the previous revision's.
func (r *Runner) Upgrade(ctx context.Context, s Spec) (*release.Release, error) {
	// Only an upgrade's Update reads objects again and again; the other
	// actions share one client.
	base := r.kube
	if r.actionKube != nil {
		base = r.actionKube()
	}
	cfg, kc := r.configWith(r.live, s.Name, base)
	up := action.NewUpgrade(cfg)
	up.Namespace = r.namespace
	up.Timeout = s.Timeout
	up.Labels = s.Labels
	up.PostRenderer = s.PostRenderer
	up.MaxHistory = MaxHistory
	up.ResetValues = true
	rel, err := up.RunWithContext(ctx, s.Name, s.Chart, s.Values)
	if err != nil {
		return rel, fmt.Errorf("helm upgrade %s: %w", s.Name, kc.Explain(err))
	}
	return rel, nil
}

// Uninstall removes a release and its history.
func (r *Runner) Uninstall(ctx context.Context, name string, timeout time.Duration) error {
	cfg, kc := r.config(name)
	un := action.NewUninstall(cfg)
	un.Timeout = timeout
	un.IgnoreNotFound = true
	done := make(chan error, 1)
	// Uninstall has no context; run it aside so that shutdown is not held
	// up (the next leader sees a release left "uninstalling" and finishes).
	go func() {
		_, err := un.Run(name)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("helm uninstall %s: %w", name, kc.Explain(err))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("helm uninstall %s: %w", name, ctx.Err())
	}
}

// Last returns the latest revision of a release, read from storage (not a
// cache), or ErrNotFound. The history it read is what the next action on
// the release starts from, if it follows within readFresh.
func (r *Runner) Last(name string) (*release.Release, error) {
	revs, err := r.live.History(name)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		r.forgetRead(name)
		return nil, fmt.Errorf("read release %s: %w", name, err)
	}
	r.keepRead(name, revs)
	var last *release.Release
	for _, rel := range revs {
		if last == nil || rel.Version > last.Version {
			last = rel
		}
	}
	if last == nil {
		return nil, ErrNotFound
	}
	return last, nil
}

func (r *Runner) keepRead(name string, revs []*release.Release) {
	kept := make([]*release.Release, len(revs))
	for i, rel := range revs {
		kept[i] = copyRelease(rel)
	}
	r.readsMu.Lock()
	defer r.readsMu.Unlock()
	if r.reads == nil {
		r.reads = map[string]historyRead{}
	}
	r.reads[name] = historyRead{revs: kept, at: time.Now()}
}

// takeRead hands a fresh live read of name to one action, once.
func (r *Runner) takeRead(name string) ([]*release.Release, bool) {
	r.readsMu.Lock()
	defer r.readsMu.Unlock()
	read, ok := r.reads[name]
	delete(r.reads, name)
	return read.revs, ok && time.Since(read.at) < readFresh
}

// forgetRead drops a read that a write outside an action made stale.
func (r *Runner) forgetRead(name string) {
	r.readsMu.Lock()
	defer r.readsMu.Unlock()
	delete(r.reads, name)
}

// MarkFailed records a revision left pending by a crash as failed, as
// Flux's helm-controller unlocks one, so that an upgrade may follow.
func (r *Runner) MarkFailed(rel *release.Release, why string) error {
	rel.SetStatus(release.StatusFailed, why)
	r.forgetRead(rel.Name)
	if err := r.live.Update(rel); err != nil {
		return fmt.Errorf("unlock release %s: %w", rel.Name, err)
	}
	return nil
}

// Relabel sets labels on the stored latest revision of a release, in
// place: no new revision, nothing applied to the cluster, so its pods do
// not restart. It is how a release installed without our labels (by the
// Python deployer) is adopted when it already holds what its entry asks.
func (r *Runner) Relabel(rel *release.Release, labels map[string]string) error {
	if rel.Labels == nil {
		rel.Labels = map[string]string{}
	}
	maps.Copy(rel.Labels, labels)
	r.forgetRead(rel.Name)
	if err := r.live.Update(rel); err != nil {
		return fmt.Errorf("relabel release %s: %w", rel.Name, err)
	}
	return nil
}
