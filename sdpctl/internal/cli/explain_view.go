package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// explanation is everything explain shows about one deployment. It is
// gathered first and rendered by writeExplanation alone, so that the output
// can be checked against goldens without a config DB or a cluster.
type explanation struct {
	ID string `json:"id"`
	// Release and Namespace say where the Helm release is; Release is
	// empty when the id cannot become a release name.
	Release   string `json:"release,omitempty"`
	Namespace string `json:"namespace"`
	// Verdict is the one-line answer (see verdict).
	Verdict    string         `json:"verdict"`
	Deployment deploymentView `json:"deployment"`
	State      stateView      `json:"state"`
	Kubernetes kubeView       `json:"kubernetes"`
}

// deploymentView is the deployment entry, or why there is none to show.
type deploymentView struct {
	Found bool `json:"found"`
	// Error is why the entry does not decode; the fields below are then
	// what could be read of it, if anything.
	Error   string         `json:"error,omitempty"`
	Kind    string         `json:"kind,omitempty"`
	Chart   string         `json:"chart,omitempty"`
	Version string         `json:"version,omitempty"`
	Values  map[string]any `json:"values,omitempty"`
}

// stateView is the state entry with each pod's reason beside its status,
// which is how an operator reads them.
type stateView struct {
	Found bool `json:"found"`
	// Error is why the entry cannot be read; nothing else is shown then,
	// since a part read before the error is no more trustworthy.
	Error   string                  `json:"error,omitempty"`
	Release *configdb.ReleaseStatus `json:"release,omitempty"`
	Pods    []podView               `json:"pods,omitempty"`
}

type podView struct {
	Name   string              `json:"name"`
	Status configdb.PodStatus  `json:"status"`
	Reason *configdb.PodReason `json:"reason,omitempty"`
}

// kubeView is what Kubernetes says of the release. History and Events are
// null when they were not read and [] when read and empty, so that a
// script can tell "none" from "not asked".
type kubeView struct {
	// Server is the API server asked; empty when none was.
	Server string `json:"server,omitempty"`
	// Note says why Kubernetes was not asked, or did not answer: no
	// kubeconfig, or an API server that is away; nothing else is read then.
	// Not an error: the config DB's part is what scripts see.
	Note         string         `json:"note,omitempty"`
	History      []helmRevision `json:"history"`
	HistoryError string         `json:"history_error,omitempty"`
	Events       []kubeEvent    `json:"events"`
	EventsError  string         `json:"events_error,omitempty"`
}

// helmRevision is one revision of the release as Helm's storage holds it.
type helmRevision struct {
	Revision int    `json:"revision"`
	Status   string `json:"status"`
	Chart    string `json:"chart"`
	Version  string `json:"version"`
	// Updated is when the revision was last deployed or attempted, RFC 3339
	// in UTC.
	Updated string `json:"updated"`
	// Description is Helm's: for a failed revision, the error.
	Description string `json:"description"`
}

// kubeEvent is one Kubernetes event about an object of the release.
type kubeEvent struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
	// Object is kind/name.
	Object  string `json:"object"`
	Message string `json:"message"`
	Count   int32  `json:"count,omitempty"`
	// Time is when it was last seen, RFC 3339 in UTC.
	Time string `json:"time"`
}

// verdict is the one-line answer to "is it running, and if not why". The
// first thing that stops the deployment wins, in the order a deployment
// goes through: entry, release, readiness of the release as a whole, pods,
// then what happened to it since.
func verdict(d deploymentView, st stateView) string {
	switch {
	case !d.Found && st.Found:
		return "no deployment entry (a state entry is left over)"
	case !d.Found:
		return "no deployment entry"
	case d.Error != "":
		return "not deployed: " + d.Error
	case d.Kind != configdb.KindHelm:
		return fmt.Sprintf("not the Helm Deployer's: kind %q belongs to another deployer", d.Kind)
	case st.Error != "":
		return "unknown: " + st.Error
	case st.Release == nil:
		return "no release yet"
	}
	r := st.Release
	switch {
	case r.Error != "":
		return "failed: " + r.Error
	case r.Status == configdb.ReleaseFailed:
		return fmt.Sprintf("failed: revision %d failed", r.Revision)
	case r.Status == configdb.ReleasePendingInstall:
		return fmt.Sprintf("installing (revision %d)", r.Revision)
	case r.Status == configdb.ReleasePendingUpgrade:
		return fmt.Sprintf("upgrading (revision %d)", r.Revision)
	case r.Status == configdb.ReleaseUninstalling:
		return "uninstalling"
	case r.Status != configdb.ReleaseDeployed:
		return "release " + r.Status
	case r.Readiness == configdb.ReadinessFailed:
		return "failed: " + orElse(r.ReadinessReason, "the release's workloads failed")
	}
	if v := podsVerdict(st.Pods); v != "" {
		return v
	}
	switch {
	case r.Readiness == configdb.ReadinessNotReady:
		return "not ready: " + orElse(r.ReadinessReason, "the release's workloads are not ready")
	case len(r.Drift) > 0:
		return "drifted: " + driftPhrase(r.Drift)
	case len(st.Pods) == 0:
		return "deployed, no pods"
	}
	for _, p := range st.Pods {
		if p.Status != configdb.PodFinished {
			return "running"
		}
	}
	return "finished"
}

func orElse(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// podsVerdict names the pod most in the way, failed before pending before
// the rest, or is empty when every pod is RUNNING or FINISHED.
func podsVerdict(pods []podView) string {
	rank := func(s configdb.PodStatus) int {
		switch s {
		case configdb.PodFailed:
			return 0
		case configdb.PodPending:
			return 1
		}
		return 2
	}
	var stuck []podView
	for _, p := range pods {
		if p.Status != configdb.PodRunning && p.Status != configdb.PodFinished {
			stuck = append(stuck, p)
		}
	}
	if len(stuck) == 0 {
		return ""
	}
	sort.SliceStable(stuck, func(i, j int) bool {
		if ri, rj := rank(stuck[i].Status), rank(stuck[j].Status); ri != rj {
			return ri < rj
		}
		return stuck[i].Name < stuck[j].Name
	})
	p := stuck[0]
	v := fmt.Sprintf("not running: pod %s %s", p.Name, p.Status)
	if p.Reason != nil && p.Reason.Reason != "" {
		v += " (" + reasonPhrase(*p.Reason) + ")"
	}
	switch n := len(stuck) - 1; {
	case n == 1:
		v += "; 1 more pod not running"
	case n > 1:
		v += fmt.Sprintf("; %d more pods not running", n)
	}
	return v
}

// reasonPhrase is a reason in one phrase: "CrashLoopBackOff in container w,
// exit 137 OOMKilled: back-off 5m0s restarting failed container".
func reasonPhrase(r configdb.PodReason) string {
	s := r.Reason
	switch {
	case r.Container != "" && r.InitContainer:
		s += " in init container " + r.Container
	case r.Container != "":
		s += " in container " + r.Container
	}
	if r.ExitCode != nil {
		s += strings.TrimRight(", exit "+strconv.Itoa(int(*r.ExitCode))+" "+r.ExitReason, " ")
	}
	if r.Message != "" {
		s += ": " + r.Message
	}
	return s
}

// driftPhrase describes the latest drift record, the one most likely still
// to matter: "Deployment x deleted, corrected at T".
func driftPhrase(drift []configdb.DriftRecord) string {
	d := drift[len(drift)-1]
	s := d.Kind + " " + d.Name + " " + d.Change
	if len(d.Fields) > 0 {
		s += " (" + strings.Join(d.Fields, ", ") + ")"
	}
	if d.Corrected != "" {
		s += ", corrected at " + d.Corrected
	} else {
		s += ", not corrected"
	}
	switch n := len(drift) - 1; {
	case n == 1:
		s += "; 1 earlier drift"
	case n > 1:
		s += fmt.Sprintf("; %d earlier drifts", n)
	}
	return s
}

// Bounds of the values summary of the table: the whole values are in -o
// json and in 'sdpctl get'.
const (
	maxSummaryValues = 8
	maxSummaryValue  = 40
)

// valuesSummary flattens values to "a.b=1, c=x" in key order, the first
// maxSummaryValues leaves, each value cut at maxSummaryValue bytes.
func valuesSummary(values map[string]any) string {
	if len(values) == 0 {
		return ""
	}
	var leaves []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, m[k])
			}
			return
		}
		var s string
		if str, ok := v.(string); ok {
			s = str
		} else if b, err := json.Marshal(v); err == nil {
			s = string(b)
		}
		leaves = append(leaves, prefix+"="+cut(s, maxSummaryValue))
	}
	walk("", values)
	if len(leaves) > maxSummaryValues {
		more := len(leaves) - maxSummaryValues
		leaves = append(leaves[:maxSummaryValues], fmt.Sprintf("(%d more)", more))
	}
	return strings.Join(leaves, ", ")
}

// cut shortens s to at most n bytes, ending in "..." when it does, without
// splitting a UTF-8 character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := n - len("...")
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "..."
}

// writeExplanation renders ex; now is what the table's event ages are
// counted from (json and yaml give the times themselves).
func writeExplanation(w io.Writer, out format, ex explanation, now time.Time) error {
	return write(w, out, ex, func(tw *tabwriter.Writer) {
		// Blocks are separated by blank lines, which also end tabwriter's
		// column alignment, so that each table is aligned on its own.
		kv(tw, "verdict:", ex.Verdict)
		fmt.Fprintln(tw)
		writeDeploymentBlock(tw, ex)
		fmt.Fprintln(tw)
		writeStateBlock(tw, ex)
		fmt.Fprintln(tw)
		writeKubeBlock(tw, ex, now)
	})
}

func writeDeploymentBlock(tw io.Writer, ex explanation) {
	d := ex.Deployment
	switch {
	case !d.Found:
		kv(tw, "deployment:", ex.ID+": no deployment entry")
		return
	case d.Error != "":
		kv(tw, "deployment:", ex.ID+": does not decode: "+d.Error)
		return
	}
	chart := d.Chart
	if chart != "" && d.Version != "" {
		chart += " " + d.Version
	}
	kv(tw, "deployment:", ex.ID)
	kv(tw, "kind:", d.Kind)
	kv(tw, "chart:", chart)
	kv(tw, "values:", valuesSummary(d.Values))
}

func writeStateBlock(tw io.Writer, ex explanation) {
	st := ex.State
	switch {
	case st.Error != "":
		kv(tw, "state:", st.Error)
		return
	case !st.Found:
		kv(tw, "state:", "no state entry")
		return
	}
	release := ex.Release
	if release != "" {
		release += " (namespace " + ex.Namespace + ")"
	}
	if r := st.Release; r == nil {
		kv(tw, "release:", release)
		kv(tw, "status:", "no release part yet")
	} else {
		rev := ""
		if r.Revision != 0 {
			rev = strconv.Itoa(r.Revision)
		}
		readiness := r.Readiness
		if r.ReadinessReason != "" {
			readiness += ": " + r.ReadinessReason
		}
		kv(tw, "release:", release)
		kv(tw, "status:", r.Status)
		kv(tw, "revision:", rev)
		kv(tw, "chart:", strings.TrimSpace(r.Chart+" "+r.Version))
		kv(tw, "error:", r.Error)
		kv(tw, "warning:", r.Warning)
		kv(tw, "readiness:", readiness)
		kv(tw, "updated:", r.Time)
	}
	counts := make(map[string]configdb.PodStatus, len(st.Pods))
	for _, p := range st.Pods {
		counts[p.Name] = p.Status
	}
	kv(tw, "pods:", orElse(podSummary(counts), "none"))
	if r := st.Release; r != nil && len(r.Drift) > 0 {
		fmt.Fprintln(tw)
		row(tw, "DRIFTED OBJECT", "CHANGE", "FIELDS", "SEEN", "CORRECTED")
		for _, d := range r.Drift {
			row(tw, d.Kind+"/"+d.Name, d.Change, strings.Join(d.Fields, ", "), d.Seen, d.Corrected)
		}
	}
	if len(st.Pods) > 0 {
		fmt.Fprintln(tw)
		row(tw, "POD", "STATUS", "REASON", "MESSAGE")
		for _, p := range st.Pods {
			var r configdb.PodReason
			if p.Reason != nil {
				r = *p.Reason
			}
			row(tw, p.Name, string(p.Status), reasonCell(r), r.Message)
		}
	}
}

func writeKubeBlock(tw io.Writer, ex explanation, now time.Time) {
	k := ex.Kubernetes
	if k.Note != "" {
		// Not asked, or no answer: the note is all there is.
		kv(tw, "kubernetes:", k.Note)
		return
	}
	kv(tw, "kubernetes:", k.Server+", namespace "+ex.Namespace)
	switch {
	case k.HistoryError != "":
		kv(tw, "history:", "cannot be read: "+k.HistoryError)
	case k.History != nil && len(k.History) == 0:
		kv(tw, "history:", "no Helm release "+ex.Release+" in namespace "+ex.Namespace)
	}
	switch {
	case k.EventsError != "":
		kv(tw, "events:", "cannot be read: "+k.EventsError)
	case k.Events != nil && len(k.Events) == 0:
		kv(tw, "events:", "none recent about the release's objects")
	}
	if len(k.History) > 0 {
		fmt.Fprintln(tw)
		row(tw, "HELM REVISION", "STATUS", "CHART", "UPDATED", "DESCRIPTION")
		for _, h := range k.History {
			row(tw, strconv.Itoa(h.Revision), h.Status, strings.TrimSpace(h.Chart+" "+h.Version), h.Updated, h.Description)
		}
	}
	if len(k.Events) > 0 {
		fmt.Fprintln(tw)
		row(tw, "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")
		for _, e := range k.Events {
			row(tw, eventAge(e, now), e.Type, e.Reason, e.Object, e.Message)
		}
	}
}

// kvWidth fits the longest key of the key: value lines, so that all of
// them line up across blocks.
const kvWidth = len("deployment:") + 3

// kv writes a "key: value" line. It has no tab, so tabwriter passes it
// through without making it a column of the tables around it.
func kv(w io.Writer, key, value string) {
	value = strings.Join(strings.Fields(value), " ")
	if value == "" {
		value = "-"
	}
	fmt.Fprintf(w, "%-*s%s\n", kvWidth, key, value)
}

// eventAge is how long ago an event was last seen, as kubectl says it
// ("5m", "2d3h"), with the repeat count when there was one.
func eventAge(e kubeEvent, now time.Time) string {
	t, err := time.Parse(time.RFC3339, e.Time)
	if err != nil {
		return e.Time
	}
	age := duration.HumanDuration(now.Sub(t))
	if e.Count > 1 {
		age += fmt.Sprintf(" (x%d)", e.Count)
	}
	return age
}
