package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// Bounds of what explain shows from Kubernetes: the release-manager keeps
// five revisions, and the events worth reading are the latest few.
const (
	maxRevisions = 10
	maxEvents    = 20
	// eventsPage is the page size of the event list; a busy namespace
	// holds thousands, of which a few are about the release.
	eventsPage = 500
)

const configDBOnly = "showing what the config DB holds"

// readKube reads the release's Helm history and the recent events about its
// objects. It never fails: what it cannot read, it says in the view.
func (a *app) readKube(ctx context.Context, flagPath, ns, rel string, pods []string) kubeView {
	cfg, note := a.kubeConfig(flagPath)
	if cfg == nil {
		return kubeView{Note: note}
	}
	// The core/v1 client alone: the full clientset would carry every API
	// group's client into the binary for two lists.
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return kubeView{Note: fmt.Sprintf("not asked: %v; %s", err, configDBOnly)}
	}
	kv := kubeView{Server: cfg.Host}
	// Helm's storage calls the API without a context; the client's timeout
	// is what bounds them.
	revs, err := storage.Init(driver.NewSecrets(core.Secrets(ns))).History(rel)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		kv.History = []helmRevision{}
	case err != nil && unreachable(err):
		// The events would only wait out the same timeout again.
		kv.Note = fmt.Sprintf("API server %s cannot be reached within %v: %v; %s", cfg.Host, a.timeout, transportError(err), configDBOnly)
		return kv
	case err != nil:
		kv.HistoryError = err.Error()
	default:
		kv.History = historyOf(revs)
	}
	objects := releaseObjectsOf(latest(revs), pods)
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	events, err := listEvents(ctx, core.Events(ns), objects)
	if err != nil {
		kv.EventsError = transportError(err)
		return kv
	}
	kv.Events = events
	return kv
}

// kubeConfig loads the kubeconfig named by the flag, else $KUBECONFIG (a
// list, as kubectl reads it), and nothing else: no ~/.kube/config and no
// in-cluster account, so that explain asks a cluster only when told which.
// Without one it returns the note that says why.
func (a *app) kubeConfig(flagPath string) (*rest.Config, string) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: flagPath}
	source := "--kubeconfig " + flagPath
	if flagPath == "" {
		env, _ := a.lookupEnv("KUBECONFIG")
		if env == "" {
			return nil, "not asked: no kubeconfig (--kubeconfig or KUBECONFIG); " + configDBOnly
		}
		rules = &clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(env)}
		source = "KUBECONFIG=" + env
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Sprintf("not asked: kubeconfig (%s): %v; %s", source, err, configDBOnly)
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{}).ClientConfig()
	switch {
	case clientcmd.IsEmptyConfig(err):
		return nil, fmt.Sprintf("not asked: kubeconfig (%s) names no cluster; %s", source, configDBOnly)
	case err != nil:
		return nil, fmt.Sprintf("not asked: kubeconfig (%s): %v; %s", source, err, configDBOnly)
	}
	cfg.Timeout = a.timeout
	cfg.UserAgent = "sdpctl"
	// The API server's deprecation warnings would be lines of their own
	// on stderr.
	cfg.WarningHandler = rest.NoWarnings{}
	return cfg, ""
}

// unreachable tells an API server that did not answer from one that
// answered no (forbidden, for one).
func unreachable(err error) bool {
	var status apierrors.APIStatus
	return !errors.As(err, &status)
}

// transportError is the part of a client error that says what went wrong,
// without the request URL.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// historyOf is the revisions in order, the last maxRevisions of them.
func historyOf(revs []*release.Release) []helmRevision {
	sorted := append([]*release.Release(nil), revs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Version < sorted[j].Version })
	if len(sorted) > maxRevisions {
		sorted = sorted[len(sorted)-maxRevisions:]
	}
	history := make([]helmRevision, 0, len(sorted))
	for _, r := range sorted {
		h := helmRevision{Revision: r.Version}
		if r.Chart != nil && r.Chart.Metadata != nil {
			h.Chart, h.Version = r.Chart.Metadata.Name, r.Chart.Metadata.Version
		}
		if r.Info != nil {
			h.Status, h.Description = r.Info.Status.String(), r.Info.Description
			if !r.Info.LastDeployed.IsZero() {
				h.Updated = r.Info.LastDeployed.UTC().Format(time.RFC3339)
			}
		}
		history = append(history, h)
	}
	return history
}

func latest(revs []*release.Release) *release.Release {
	var l *release.Release
	for _, r := range revs {
		if l == nil || r.Version > l.Version {
			l = r
		}
	}
	return l
}

// releaseObjects are the objects whose events are the release's: those
// of its latest revision's manifest and hooks, the pods the pod-monitor
// reports, and the ReplicaSets of its Deployments (a ReplicaSet that cannot
// create pods, for a quota or an admission policy, says so only in its own
// events).
type releaseObjects struct {
	exact       map[string]bool // kind/name
	deployments map[string]bool
}

func releaseObjectsOf(rel *release.Release, pods []string) releaseObjects {
	o := releaseObjects{exact: map[string]bool{}, deployments: map[string]bool{}}
	for _, p := range pods {
		o.exact["Pod/"+p] = true
	}
	if rel == nil {
		return o
	}
	add := func(kind, name string) {
		if kind == "" || name == "" {
			return
		}
		o.exact[kind+"/"+name] = true
		if kind == "Deployment" {
			o.deployments[name] = true
		}
	}
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		// A document that does not parse names no object; Helm would
		// not have installed it either.
		if yaml.Unmarshal([]byte(doc), &head) == nil {
			add(head.Kind, head.Metadata.Name)
		}
	}
	for _, h := range rel.Hooks {
		if h != nil {
			add(h.Kind, h.Name)
		}
	}
	return o
}

func (o releaseObjects) has(kind, name string) bool {
	if o.exact[kind+"/"+name] {
		return true
	}
	if kind != "ReplicaSet" {
		return false
	}
	// A Deployment's ReplicaSets are named <deployment>-<pod template hash>.
	i := strings.LastIndexByte(name, '-')
	return i > 0 && o.deployments[name[:i]]
}

// listEvents lists the namespace's events, newest last, keeping the last
// maxEvents about the release's objects.
func listEvents(ctx context.Context, client corev1client.EventInterface, objects releaseObjects) ([]kubeEvent, error) {
	var found []corev1.Event
	opts := metav1.ListOptions{Limit: eventsPage}
	for {
		l, err := client.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, e := range l.Items {
			if objects.has(e.InvolvedObject.Kind, e.InvolvedObject.Name) {
				found = append(found, e)
			}
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	sort.SliceStable(found, func(i, j int) bool { return lastSeen(found[i]).Before(lastSeen(found[j])) })
	if len(found) > maxEvents {
		found = found[len(found)-maxEvents:]
	}
	events := make([]kubeEvent, 0, len(found))
	for _, e := range found {
		count := e.Count
		if e.Series != nil && e.Series.Count > count {
			count = e.Series.Count
		}
		events = append(events, kubeEvent{
			Type:    e.Type,
			Reason:  e.Reason,
			Object:  e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name,
			Message: strings.TrimSpace(e.Message),
			Count:   count,
			Time:    lastSeen(e).UTC().Format(time.RFC3339),
		})
	}
	return events, nil
}

// lastSeen is when an event last happened: its writers fill different
// fields (core/v1 clients the timestamps, events/v1 ones the event time and
// series).
func lastSeen(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}
