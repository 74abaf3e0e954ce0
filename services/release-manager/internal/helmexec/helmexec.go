// Package helmexec is the release-manager's one seam to Helm: it builds
// action.Configuration by hand (Helm v3 has no constructor), sharing what is
// expensive among all actions — one REST client getter with cached discovery
// and REST mapper, one kube client with a validator built once, one Secret
// storage driver, Capabilities computed once — and runs install, upgrade and
// uninstall in-process. Tests swap the configuration for Helm's in-memory
// storage and fake kube client.
//
// app builds it and the reconciler acts through it (its Helm interface);
// why one seam: docs/architecture.md, §5. Why it is built this way.
package helmexec

import (
	"context"
	"fmt"
	"log/slog"
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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/confine"
)

// MaxHistory bounds the revisions Helm keeps per release: enough to see
// what happened, few enough that Secrets do not pile up.
const MaxHistory = 5

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

// SetConfine sets what the Kubernetes client of every Helm action refuses;
// without a Mapper, the runner's own is used.
func (r *Runner) SetConfine(c confine.Confiner) { r.confine.Store(&c) }
