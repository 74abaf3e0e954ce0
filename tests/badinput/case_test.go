package badinput

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// badCase is one row of the catalogue.
type badCase struct {
	name string
	// service is the one whose input this is.
	service string
	// input says what was fed, for the report.
	input string
	// where is where the user sees the outcome.
	where string
	// want is a fragment of the message the user must see.
	want string
	// feed writes the bad input; its error is what the writer itself was
	// told (an API server or config DB refusal).
	feed func(r *run) error
	// seen reads, where the user looks, what the user sees; ok once it
	// holds want (and whatever else the case waits for).
	seen func(r *run) (msg string, ok bool)
	// good is the kind of good input fed alongside: goodDeployment or
	// goodNAD.
	good string
	// note, when set, says in the report what the case shows beyond the
	// message (each is checked by the case, not only claimed).
	note string
	// check, when set, asserts what must not be lost (entries kept as
	// they were, values round-tripped) once seen is ok.
	check func(r *run) error
}

const (
	goodDeployment = "deployment"
	goodNAD        = "nad"
)

// run is one case being run.
type run struct {
	e *env
	c *badCase
	// goodName names the good input fed alongside.
	goodName string
	// logMark is where each service's log stood when the case began.
	logMark map[string]int
	// metricMark holds the metric values read when the case began.
	metricMark map[string]float64
	// fed is the error feed returned.
	fed error
}

// result is what the report shows of a case.
type result struct {
	c    *badCase
	seen string
	err  error
	// seenAfter and goodAfter are how long after the feed the message
	// was seen and the good input had converged.
	seenAfter, goodAfter time.Duration
}

// runCase feeds a case's bad input and a good one alongside, then waits
// for the message where the user looks, for the good input to converge,
// and checks that no service crashed.
func (e *env) runCase(c *badCase, n int) result {
	r := &run{e: e, c: c, goodName: fmt.Sprintf("ok-%02d", n), logMark: map[string]int{}, metricMark: map[string]float64{}}
	for _, s := range e.names() {
		r.logMark[s] = len(e.procs[s].Logs())
	}
	for _, series := range metricSeries {
		v, err := e.metric(series.service, series.name)
		if err != nil {
			return result{c: c, err: err}
		}
		r.metricMark[series.service+" "+series.name.String()] = v
	}
	t0 := time.Now()
	r.fed = c.feed(r)
	if err := e.feedGood(c.good, r.goodName); err != nil {
		return result{c: c, err: fmt.Errorf("good %s %s: %w", c.good, r.goodName, err)}
	}
	var msg string
	ok := poll(60*time.Second, func() bool {
		var ok bool
		msg, ok = c.seen(r)
		return ok
	})
	if !ok {
		return result{c: c, seen: msg, err: fmt.Errorf("%s: %q not seen within 60s; last seen: %q (feed error: %v)", c.where, c.want, msg, r.fed)}
	}
	seenAfter := time.Since(t0)
	if err := e.waitGood(c.good, r.goodName); err != nil {
		return result{c: c, seen: msg, err: fmt.Errorf("nothing lost: %w", err)}
	}
	goodAfter := time.Since(t0)
	if c.check != nil {
		if err := c.check(r); err != nil {
			return result{c: c, seen: msg, err: err}
		}
	}
	if err := e.alive(); err != nil {
		return result{c: c, seen: msg, err: err}
	}
	return result{c: c, seen: msg, seenAfter: seenAfter, goodAfter: goodAfter}
}

// feedGood writes the good input of a case: a deployment of the good
// chart, or a labelled NAD with a valid config.
func (e *env) feedGood(kind, name string) error {
	switch kind {
	case goodDeployment:
		return e.put(rawKey("/deploy/"+name), deploymentJSON(name, "good-receive", map[string]any{"replicas": 1}))
	case goodNAD:
		return e.createNAD(name, available(""), goodConfig(name, "10.60.1.0/24"))
	}
	return fmt.Errorf("unknown good input %q", kind)
}

// waitGood waits until the good input converged: the release deployed and
// its pod RUNNING in the state entry, or the NAD's resource entry written.
func (e *env) waitGood(kind, name string) error {
	var last string
	ok := poll(90*time.Second, func() bool {
		switch kind {
		case goodDeployment:
			st, found, err := e.state(name)
			last = fmt.Sprintf("found=%v %+v %v", found, st, err)
			if err != nil || st.Release.Status != "deployed" {
				return false
			}
			for _, s := range st.Pods {
				if s == "RUNNING" {
					return true
				}
			}
		case goodNAD:
			v, found, err := e.get(rawKey("/resource/network-attachment-definition:" + namespace + ":" + name))
			last = fmt.Sprintf("found=%v %s %v", found, v, err)
			return found
		}
		return false
	})
	if !ok {
		return fmt.Errorf("good %s %s did not converge in 90s; last: %s", kind, name, last)
	}
	return nil
}

// The ways a user sees an outcome, as the report names them.
const (
	whereState    = "state entry `release.error`"
	whereStatus   = "state entry `release.status`"
	whereReply    = "reply to the writer"
	whereRMLog    = "release-manager log"
	wherePMLog    = "pod-monitor log"
	whereRsLog    = "resource-monitor log"
	whereResource = "`/resource/` entry"
)

// entry feeds a raw deployment entry value under /deploy/<id>.
func entry(id, value string) func(r *run) error {
	return func(r *run) error { return r.e.put(rawKey("/deploy/"+id), value) }
}

// stateError is what the state entry of id says: its release error, or
// its release status when there is no error.
func stateError(id string) func(r *run) (string, bool) { return stateErrorAt("", id) }

// stateErrorAt is stateError under a global config DB prefix.
func stateErrorAt(prefix, id string) func(r *run) (string, bool) {
	return func(r *run) (string, bool) {
		st, found, err := r.e.stateAt(prefix, id)
		switch {
		case err != nil:
			return err.Error(), false
		case !found:
			return "(no state entry)", false
		case st.Release.Error != "":
			return st.Release.Error, strings.Contains(st.Release.Error, r.c.want)
		}
		return "status " + st.Release.Status, st.Release.Status == r.c.want
	}
}

// logged finds, in what service logged since the case began, a line that
// holds every fragment of match and the case's want; the message is the
// line's level, msg and error (or its other fields).
func logged(service string, match ...string) func(r *run) (string, bool) {
	return func(r *run) (string, bool) {
		logs := r.e.procs[service].Logs()[r.logMark[service]:]
		for _, line := range strings.Split(logs, "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			text := flatten(m)
			ok := strings.Contains(text, r.c.want)
			for _, f := range match {
				ok = ok && strings.Contains(text, f)
			}
			if ok {
				return logSummary(m), true
			}
		}
		return "(no matching log line)", false
	}
}

// flatten renders a log line's fields as "k=v" text, values decoded, so
// that fragments match what a human reads rather than JSON escapes.
func flatten(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%v ", k, m[k])
	}
	return b.String()
}

func logSummary(m map[string]any) string {
	s := fmt.Sprintf("%v %q", m["level"], m["msg"])
	skip := map[string]bool{"time": true, "level": true, "msg": true, "service": true}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%v", k, m[k])
	}
	return s
}

// replied is the error the writer of the input got back.
func replied(r *run) (string, bool) {
	if r.fed == nil {
		return "(accepted)", false
	}
	return r.fed.Error(), strings.Contains(r.fed.Error(), r.c.want)
}

// metricSeries are the counters whose increase some cases wait for.
var metricSeries = []struct {
	service string
	name    series
}{
	{"pod-monitor", series{"sdp_helmdeploy_pod_monitor_ignored_pods_total", "invalid-id"}},
	{"resource-monitor", series{"sdp_helmdeploy_resource_monitor_parse_errors_total", "invalid-json"}},
	{"resource-monitor", series{"sdp_helmdeploy_resource_monitor_parse_errors_total", "invalid-config"}},
	{"resource-monitor", series{"sdp_helmdeploy_resource_monitor_parse_errors_total", "no-subnet"}},
}

// series is a counter with one reason label.
type series struct{ name, reason string }

func (s series) String() string { return fmt.Sprintf("%s{reason=%q}", s.name, s.reason) }

// metricUp waits for a counter of metricSeries to have grown since the
// case began.
func metricUp(service string, series series) func(r *run) (string, bool) {
	return func(r *run) (string, bool) {
		v, err := r.e.metric(service, series)
		if err != nil {
			return err.Error(), false
		}
		before := r.metricMark[service+" "+series.String()]
		return fmt.Sprintf("%s %g (was %g)", series, v, before), v > before
	}
}

// both holds when every part does; the message joins theirs.
func both(parts ...func(r *run) (string, bool)) func(r *run) (string, bool) {
	return func(r *run) (string, bool) {
		var msgs []string
		all := true
		for _, p := range parts {
			m, ok := p(r)
			msgs = append(msgs, m)
			all = all && ok
		}
		return strings.Join(msgs, " ⟂ "), all
	}
}

// available returns the labels of a NAD offered for allocation, in the
// given supernet ("" for none).
func available(supernet string) map[string]string {
	l := map[string]string{"sdp.skao.int/available-for-allocation": "true"}
	if supernet != "" {
		l["sdp.skao.int/supernet"] = supernet
	}
	return l
}

// goodConfig is a valid macvlan + whereabouts config on subnet.
func goodConfig(name, subnet string) string {
	return fmt.Sprintf(`{"cniVersion": "0.3.1", "name": %q, "type": "macvlan", "master": "eth1", "ipam": {"type": "whereabouts", "range": %q}}`, name, subnet)
}

// createNAD creates a NAD in the processing namespace; config nil leaves
// spec.config out, any other value is set as it is (a string normally).
func (e *env) createNAD(name string, labels map[string]string, config any) error {
	spec := map[string]any{}
	if config != nil {
		spec["config"] = config
	}
	l := map[string]any{}
	for k, v := range labels {
		l[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1",
		"kind":       "NetworkAttachmentDefinition",
		"metadata":   map[string]any{"name": name, "namespace": namespace, "labels": l},
		"spec":       spec,
	}}
	_, err := e.dyn.Resource(nadGVR).Namespace(namespace).Create(e.ctx, u, metav1.CreateOptions{})
	return err
}

// createPod creates a bare pod with labels in the processing namespace;
// the scheduler and kwok take it to Running, as for any pod.
func (e *env) createPod(name string, labels map[string]string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/sdp/bad-input:0"}}},
	}
	_, err := e.cs.CoreV1().Pods(namespace).Create(e.ctx, pod, metav1.CreateOptions{})
	return err
}

var nadGVR = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}
