package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Release ownership label and value that the release-manager puts on the
// releases it owns (releases without it are someone else's).
const (
	managedByLabel = "sdp.skao.int/managed-by"
	managedByValue = "sdp-helm-deployer"
)

// Observed is everything the check compares, read from the config DB, Helm's
// release storage and the API server.
type Observed struct {
	// Entries are the helm deployment entries that decoded, by id.
	Entries map[string]configdb.Deployment
	// BadEntries are entries that did not decode, by id.
	BadEntries map[string]string
	// States are the state entries, by id (undecodable ones with a nil
	// value and their error in StateErrors).
	States      map[string]configdb.DeploymentState
	StateErrors map[string]string
	// Releases are the latest revision of each release in the namespace.
	Releases map[string]Release
	// Pods are the pods of the namespace.
	Pods []corev1.Pod
	// PodsChanged is when the pods of each release last changed, by
	// release name, and At when the view was taken: known only to a
	// watching Observer, nil and zero from Observe.
	PodsChanged map[string]time.Time
	At          time.Time
}

// PodsMapGrace is how long a state entry's pods map may trail its pods
// before the mismatch is the deployer's ("pods map"); until then it is
// "pods changing", the cluster's: the pod-monitor cannot write a map
// before the pods it lists exist, and a cluster still rolling pods out
// after a fault keeps changing them.
const PodsMapGrace = time.Second

// Release is the latest revision of a Helm release.
type Release struct {
	Name     string
	Status   string
	Revision int
	Chart    string
	Version  string
	Values   map[string]any
	Owned    bool
}

// Observe reads the config DB, the releases and pods of namespace.
func Observe(ctx context.Context, store *configdb.Store, kube kubernetes.Interface, namespace string) (Observed, error) {
	o := Observed{Entries: map[string]configdb.Deployment{}, BadEntries: map[string]string{},
		States: map[string]configdb.DeploymentState{}, StateErrors: map[string]string{}, Releases: map[string]Release{}}
	list, err := store.ListDeployments(ctx)
	if err != nil {
		return o, err
	}
	for _, d := range list.Deployments {
		if d.IsHelm() {
			o.Entries[d.ID] = d
		}
	}
	for _, e := range list.Errors {
		o.BadEntries[e.ID] = e.Error()
	}
	ids, _, err := store.StateIDs(ctx)
	if err != nil {
		return o, err
	}
	for _, id := range ids {
		st, found, err := store.GetState(ctx, id)
		switch {
		case err != nil:
			o.StateErrors[id] = err.Error()
		case found:
			o.States[id] = st
		}
	}
	secrets := driver.NewSecrets(kube.CoreV1().Secrets(namespace))
	revs, err := secrets.List(func(*release.Release) bool { return true })
	if err != nil {
		return o, fmt.Errorf("list releases: %w", err)
	}
	for _, r := range revs {
		if cur, ok := o.Releases[r.Name]; ok && cur.Revision > r.Version {
			continue
		}
		o.Releases[r.Name] = releaseSummary(r)
	}
	pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return o, fmt.Errorf("list pods: %w", err)
	}
	o.Pods = pods.Items
	return o, nil
}

// releaseSummary is what the check compares of a release revision.
func releaseSummary(r *release.Release) Release {
	rel := Release{Name: r.Name, Revision: r.Version, Values: r.Config, Owned: r.Labels[managedByLabel] == managedByValue}
	if r.Info != nil {
		rel.Status = r.Info.Status.String()
	}
	if r.Chart != nil && r.Chart.Metadata != nil {
		rel.Chart, rel.Version = r.Chart.Metadata.Name, r.Chart.Metadata.Version
	}
	return rel
}

// PodStatus is a pod's status as docs/architecture.md and the pod-monitor define it, worked out here
// independently of the pod-monitor's code.
func PodStatus(p corev1.Pod) configdb.PodStatus {
	ended := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	if p.DeletionTimestamp != nil && !ended {
		return configdb.PodCancelled
	}
	switch p.Status.Phase {
	case corev1.PodPending:
		return configdb.PodPending
	case corev1.PodRunning:
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return configdb.PodRunning
			}
		}
		return configdb.PodPending
	case corev1.PodSucceeded:
		return configdb.PodFinished
	case corev1.PodFailed:
		return configdb.PodFailed
	}
	return configdb.PodUnset
}

// podRelease is the release a pod belongs to, by its labels.
func podRelease(p corev1.Pod) string {
	if r := p.Labels["app.kubernetes.io/instance"]; r != "" {
		return r
	}
	return p.Labels["release"]
}

// ReleaseName is the release of a deployment id under prefix.
func ReleaseName(prefix, id string) string {
	if prefix == "" {
		return id
	}
	return prefix + "-" + id
}

// Compare lists every way o differs from a converged system: one line per
// mismatch, sorted. model, when not nil, is what the script last wrote
// (nil for deleted ids), which the entries must still hold.
func Compare(o Observed, prefix string, model map[string]*Written) []string {
	var bad []string
	// Each line is "<kind>: <detail>", so that a run can count them by kind.
	add := func(kind, format string, args ...any) { bad = append(bad, kind+": "+fmt.Sprintf(format, args...)) }

	for id, w := range model {
		e, ok := o.Entries[id]
		switch {
		case w == nil && ok:
			add("lost delete", "/deploy/%s was deleted by the script but exists", id)
		case w == nil:
		case !ok:
			add("lost write", "/deploy/%s was written by the script but is not a helm entry (bad: %q)", id, o.BadEntries[id])
		case e.Chart != w.Chart || !sameValues(e.Values, mustExpand(w.Values)):
			add("lost write", "/deploy/%s holds chart %s values %s, the script wrote chart %s values %s", id, e.Chart, jsonText(e.Values), w.Chart, jsonText(w.Values))
		}
	}
	for id, msg := range o.BadEntries {
		add("bad entry", "/deploy/%s does not decode: %s", id, msg)
	}

	ownedByID := map[string]Release{}
	for name, r := range o.Releases {
		if !r.Owned {
			continue
		}
		id, ok := strings.CutPrefix(name, prefix+"-")
		if prefix == "" {
			id, ok = name, true
		}
		if !ok {
			add("unprefixed release", "%s is owned but lacks the prefix %q", name, prefix)
			continue
		}
		ownedByID[id] = r
		if _, ok := o.Entries[id]; !ok {
			add("orphan release", "%s (status %s, revision %d) has no entry /deploy/%s", name, r.Status, r.Revision, id)
		}
		if strings.HasPrefix(r.Status, "pending-") || r.Status == release.StatusUninstalling.String() {
			add("release left pending", "%s is %s at revision %d", name, r.Status, r.Revision)
		}
	}

	podsByID := map[string]map[string]configdb.PodStatus{}
	for _, p := range o.Pods {
		rel := podRelease(p)
		if rel == "" {
			continue
		}
		id, ok := strings.CutPrefix(rel, prefix+"-")
		if prefix == "" {
			id, ok = rel, true
		}
		if !ok {
			continue
		}
		if _, ok := o.Entries[id]; !ok {
			add("orphan pod", "%s (%s) of release %s, which has no entry, still exists", p.Name, PodStatus(p), rel)
			continue
		}
		if podsByID[id] == nil {
			podsByID[id] = map[string]configdb.PodStatus{}
		}
		podsByID[id][p.Name] = PodStatus(p)
	}

	for id, e := range o.Entries {
		name := ReleaseName(prefix, id)
		r, ok := ownedByID[id]
		switch {
		case !ok:
			add("missing release", "/deploy/%s has no owned release %s", id, name)
		case r.Status != release.StatusDeployed.String():
			add("release not deployed", "%s is %s", name, r.Status)
		case r.Chart != chartName(e.Chart) || (e.Version != "" && r.Version != e.Version):
			add("wrong chart", "release %s runs chart %s %s, /deploy/%s asks for %s %s", name, r.Chart, r.Version, id, e.Chart, e.Version)
		case !sameValues(r.Values, e.Values):
			add("wrong values", "release %s has values %s, /deploy/%s asks for %s", name, jsonText(r.Values), id, jsonText(e.Values))
		}
		if msg, bad := o.StateErrors[id]; bad {
			add("bad state", "/deploy/%s/state does not decode: %s", id, msg)
			continue
		}
		st, found := o.States[id]
		if !found {
			add("no state", "no state entry for /deploy/%s", id)
			continue
		}
		switch {
		case st.Release == nil:
			add("no release part", "/deploy/%s/state has no release part", id)
		case ok && (st.Release.Name != name || st.Release.Status != r.Status || st.Release.Revision != r.Revision):
			add("stale state", "/deploy/%s/state says release %s %s revision %d, the release is %s %s revision %d",
				id, st.Release.Name, st.Release.Status, st.Release.Revision, r.Name, r.Status, r.Revision)
		case ok && st.Release.Status == release.StatusDeployed.String() && st.Release.Error != "":
			add("stale state", "/deploy/%s/state is deployed but keeps the error %q", id, st.Release.Error)
		}
		want := podsByID[id]
		if samePods(st.Pods, want) {
			continue
		}
		if changed, ok := o.PodsChanged[name]; ok && o.At.Sub(changed) < PodsMapGrace {
			add("pods changing", "/deploy/%s/state has %s, the pods are %s since %v ago", id, jsonText(st.Pods), jsonText(want), o.At.Sub(changed).Round(time.Millisecond))
			continue
		}
		add("pods map", "/deploy/%s/state has %s, the pods are %s", id, jsonText(st.Pods), jsonText(want))
	}
	for id := range o.States {
		if _, ok := o.Entries[id]; !ok {
			if _, bad := o.BadEntries[id]; !bad {
				add("orphan state", "/deploy/%s/state exists without /deploy/%s", id, id)
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// chartName is the chart's own name in a chart reference: the repository
// name, the last element of an oci:// reference or of a path.
func chartName(ref string) string {
	ref = strings.TrimSuffix(ref, "/")
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && strings.Contains(ref, ":") {
		ref = ref[:i]
	}
	return ref
}

func mustExpand(values map[string]any) map[string]any {
	v, err := configdb.ExpandValues(values)
	if err != nil {
		return map[string]any{"!expand-error": err.Error()}
	}
	return v
}

// sameValues compares values as JSON documents, so that 2, int64(2),
// float64(2) and json.Number("2") are the same, and nil equals empty.
func sameValues(a, b map[string]any) bool {
	return reflect.DeepEqual(normalise(a), normalise(b))
}

func normalise(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprintf("!%v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Sprintf("!%v", err)
	}
	return v
}

func samePods(a, b map[string]configdb.PodStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
