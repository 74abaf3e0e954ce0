package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/ska-telescope/sdp-helmdeploy/tests/e2e/chaos"
)

func series(alert string, labels model.Metric, start time.Time, at ...int) *model.SampleStream {
	m := model.Metric{model.AlertNameLabel: model.LabelValue(alert), "alertstate": "firing", "severity": "critical"}
	for k, v := range labels {
		m[k] = v
	}
	s := &model.SampleStream{Metric: m}
	for _, sec := range at {
		s.Values = append(s.Values, model.SamplePair{Timestamp: model.TimeFromUnixNano(start.Add(time.Duration(sec) * time.Second).UnixNano()), Value: 1})
	}
	return s
}

// Samples closer than two intervals are one stretch; a longer gap starts
// another; the overlapping stretches of one alert on several replicas are
// one; stretches come in time order with the alert's own labels.
func TestFirings(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	m := model.Matrix{
		series("B", model.Metric{"job": "pod-monitor"}, start, 10, 11, 12, 14, 20, 21),
		series("A", model.Metric{"job": "release-manager", "instance": "127.0.0.1:1"}, start, 3, 4, 5),
		series("A", model.Metric{"job": "release-manager", "instance": "127.0.0.1:2"}, start, 4, 5, 6, 7, 30),
		series("A", model.Metric{"job": "pod-monitor", "instance": "127.0.0.1:3"}, start, 4),
	}
	got := firings(m, start, time.Second)
	want := []struct {
		alert, labels   string
		from, to, insts int
	}{
		{"A", "job=release-manager", 3, 7, 2},
		{"A", "job=pod-monitor", 4, 4, 1},
		{"B", "job=pod-monitor", 10, 14, 0},
		{"B", "job=pod-monitor", 20, 21, 0},
		{"A", "job=release-manager", 30, 30, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d stretches %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Alert != w.alert || g.LabelString() != w.labels || g.From != time.Duration(w.from)*time.Second || g.To != time.Duration(w.to)*time.Second || g.Instances != w.insts {
			t.Errorf("stretch %d: %s {%s} %v-%v on %d, want %s {%s} %ds-%ds on %d", i, g.Alert, g.LabelString(), g.From, g.To, g.Instances, w.alert, w.labels, w.from, w.to, w.insts)
		}
	}
}

func TestExpectedAlerts(t *testing.T) {
	s := time.Second
	fors := map[string]time.Duration{
		"SdpHelmdeployConfigDBUnreachable": 5 * s,
		"SdpHelmdeployKubeAPIUnreachable":  5 * s,
		"SdpHelmdeployNoLeader":            5 * s,
	}
	etcd := FaultRecord{Fault: chaos.Fault{Kind: chaos.RestartEtcd}, Start: 10 * s, Took: 20 * s, AwayFrom: 15 * s, Away: 12 * s}
	api := FaultRecord{Fault: chaos.Fault{Kind: chaos.PauseAPIServer}, Start: 40 * s, Took: 15 * s, AwayFrom: 40 * s, Away: 15 * s}
	failover := FaultRecord{Fault: chaos.Fault{Kind: chaos.KillLeader, Service: "pod-monitor"}, Start: 60 * s, Took: 10 * s, AwayFrom: 60 * s, Away: 9900 * time.Millisecond}
	quickFailover := FaultRecord{Fault: chaos.Fault{Kind: chaos.KillLeader, Service: "release-manager"}, Start: 80 * s, Took: 7 * s, AwayFrom: 80 * s, Away: 7 * s}
	follower := FaultRecord{Fault: chaos.Fault{Kind: chaos.KillReplica, Service: "release-manager"}, Start: 90 * s, Took: s}
	compact := FaultRecord{Fault: chaos.Fault{Kind: chaos.Compact}, Start: 95 * s, Took: 3 * s}
	faults := []FaultRecord{etcd, api, failover, quickFailover, follower, compact}

	f := func(alert, job string, from, to int) Firing {
		return Firing{Alert: alert, Labels: model.LabelSet{"job": model.LabelValue(job)}, From: time.Duration(from) * s, To: time.Duration(to) * s}
	}
	fired := []Firing{
		f("SdpHelmdeployConfigDBUnreachable", "release-manager", 22, 28),
		f("SdpHelmdeployConfigDBUnreachable", "pod-monitor", 22, 28),
		// Too early for the etcd fault: before the config DB went away.
		f("SdpHelmdeployConfigDBUnreachable", "resource-monitor", 2, 4),
		// Raised before the fault began and held on through it.
		f("SdpHelmdeployKubeAPIUnreachable", "release-manager", 30, 56),
		f("SdpHelmdeployKubeAPIUnreachable", "pod-monitor", 46, 56),
		// Within the grace after the API server was back.
		f("SdpHelmdeployKubeAPIUnreachable", "resource-monitor", 58, 59),
		f("SdpHelmdeployNoLeader", "pod-monitor", 66, 70),
	}
	got, err := ExpectedAlerts(faults, fors, fired)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ alert, job string }
	want := map[key]bool{ // expected → fired
		{"SdpHelmdeployConfigDBUnreachable", "release-manager"}:  true,
		{"SdpHelmdeployConfigDBUnreachable", "pod-monitor"}:      true,
		{"SdpHelmdeployConfigDBUnreachable", "resource-monitor"}: false,
		{"SdpHelmdeployKubeAPIUnreachable", "release-manager"}:   true,
		{"SdpHelmdeployKubeAPIUnreachable", "pod-monitor"}:       true,
		{"SdpHelmdeployKubeAPIUnreachable", "resource-monitor"}:  true,
		{"SdpHelmdeployNoLeader", "pod-monitor"}:                 true,
	}
	if len(got) != len(want) {
		t.Errorf("%d expected alerts, want %d: %+v", len(got), len(want), got)
	}
	for _, e := range got {
		w, ok := want[key{e.Alert, e.Job}]
		if !ok {
			t.Errorf("unexpected expectation %s for %s (fault %s)", e.Alert, e.Job, e.Fault.Kind)
			continue
		}
		if (e.Fired != nil) != w {
			t.Errorf("%s for %s: fired %v, want %v", e.Alert, e.Job, e.Fired, w)
		}
	}
	seen := map[key]time.Duration{
		{"SdpHelmdeployKubeAPIUnreachable", "release-manager"}: 40 * s, // the fault's start
		{"SdpHelmdeployKubeAPIUnreachable", "pod-monitor"}:     46 * s,
		{"SdpHelmdeployNoLeader", "pod-monitor"}:               66 * s,
	}
	for _, e := range got {
		if want, ok := seen[key{e.Alert, e.Job}]; ok && e.Seen != want {
			t.Errorf("%s for %s: seen at %v, want %v", e.Alert, e.Job, e.Seen, want)
		}
	}

	// An alert a fault must raise that the rules do not have is an error,
	// not a silent pass.
	delete(fors, "SdpHelmdeployNoLeader")
	if _, err := ExpectedAlerts(faults, fors, fired); err == nil || !strings.Contains(err.Error(), "SdpHelmdeployNoLeader") {
		t.Errorf("rules without NoLeader: error %v, want one naming it", err)
	}
}

func TestCause(t *testing.T) {
	s := time.Second
	faults := []FaultRecord{
		{Fault: chaos.Fault{Kind: chaos.StopAPIServer}, Start: 10 * s, Took: 40 * s},
		{Fault: chaos.Fault{Kind: chaos.KillLeader, Service: "pod-monitor"}, Start: 20 * s, Took: 10 * s},
	}
	for _, tc := range []struct {
		from int
		want string
	}{
		{5, ""},
		{16, "stop the kube-apiserver (+10.0s) +6.0s"},
		{27, "kill -9 the leader pod-monitor (+20.0s) +7.0s; stop the kube-apiserver (+10.0s) +17.0s"},
		{64, "stop the kube-apiserver (+10.0s) +54.0s"},
		{66, ""},
	} {
		if got := Cause(Firing{From: time.Duration(tc.from) * s}, faults); got != tc.want {
			t.Errorf("firing from %ds: cause %q, want %q", tc.from, got, tc.want)
		}
	}
}

// While the config DB and the API server are both away, scrapes time out:
// only the parts of an outage the other does not overlap count.
func TestClearAway(t *testing.T) {
	ms := time.Millisecond
	pause := FaultRecord{Fault: chaos.Fault{Kind: chaos.PauseAPIServer}, Start: 37800 * ms, AwayFrom: 37800 * ms, Away: 15000 * ms}
	etcd := FaultRecord{Fault: chaos.Fault{Kind: chaos.RestartEtcd}, Start: 43000 * ms, AwayFrom: 50000 * ms, Away: 10400 * ms}
	stop := FaultRecord{Fault: chaos.Fault{Kind: chaos.StopAPIServer}, Start: 74600 * ms, AwayFrom: 84700 * ms, Away: 34900 * ms}
	leader := FaultRecord{Fault: chaos.Fault{Kind: chaos.KillLeader, Service: "pod-monitor"}, Start: 40 * time.Second, AwayFrom: 40 * time.Second, Away: 10 * time.Second}
	all := []FaultRecord{pause, etcd, stop, leader}
	etcdDuringStop := FaultRecord{Fault: chaos.Fault{Kind: chaos.RestartEtcd}, Start: 80 * time.Second, AwayFrom: 82 * time.Second, Away: 10 * time.Second}
	stopDuringEtcd := stop
	all = append(all, etcdDuringStop)
	for _, tc := range []struct {
		name string
		f    FaultRecord
		want time.Duration
	}{
		{"pause cut by the etcd restart's start", pause, 5200 * ms},
		{"etcd restart after the pause ended", etcd, 7600 * ms},
		{"API server stop overlapping nothing", stop, 34900 * ms},
		{"a failover is no probe fault", leader, 10 * time.Second},
		// A stopped API server refuses at once: etcd's outage is cut only
		// while it shuts down, and the stop's own outage not at all.
		{"etcd restart while the API server shuts down and is gone", etcdDuringStop, 7300 * ms},
		{"API server stop while etcd restarts", stopDuringEtcd, 34900 * ms},
	} {
		if got := clearAway(tc.f, all); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// An outage wholly inside another's is never clear.
	inner := FaultRecord{Fault: chaos.Fault{Kind: chaos.RestartEtcd}, Start: 38 * time.Second, AwayFrom: 40 * time.Second, Away: 5 * time.Second}
	if got := clearAway(inner, []FaultRecord{pause, inner}); got != 0 {
		t.Errorf("etcd away inside the pause: %v, want 0", got)
	}
}

// An expected alert that did not fire passes only if it was pending in its
// window for less than its `for`: cut short by a missed scrape. Pending for
// the whole `for` without firing (a `for` too long in the rule) or never
// pending fails.
func TestCutShort(t *testing.T) {
	s := time.Second
	hold := 5 * s
	kill := FaultRecord{Fault: chaos.Fault{Kind: chaos.KillLeader, Service: "pod-monitor"}, Start: 60 * s, Took: 10 * s, AwayFrom: 60 * s, Away: 10 * s}
	pending := func(job string, from, to int) Firing {
		return Firing{Alert: "SdpHelmdeployNoLeader", Labels: model.LabelSet{"job": model.LabelValue(job)}, From: time.Duration(from) * s, To: time.Duration(to) * s}
	}
	for _, tc := range []struct {
		name    string
		fired   bool
		pending []Firing
		want    bool
	}{
		{"fired", true, nil, false},
		{"never pending", false, nil, false},
		{"pending cut short", false, []Firing{pending("pod-monitor", 62, 64), pending("pod-monitor", 66, 68)}, true},
		{"pending as long as its for", false, []Firing{pending("pod-monitor", 62, 64), pending("pod-monitor", 62, 67)}, false},
		{"pending for another service", false, []Firing{pending("release-manager", 62, 64)}, false},
		{"pending outside the window", false, []Firing{pending("pod-monitor", 20, 22)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := []Expected{{Alert: "SdpHelmdeployNoLeader", Job: "pod-monitor", Fault: kill}}
			if tc.fired {
				f := pending("pod-monitor", 66, 70)
				e[0].Fired = &f
			}
			SetPending(e, tc.pending)
			if got := e[0].CutShort(hold, s); got != tc.want {
				t.Errorf("CutShort = %v, want %v (pending %+v)", got, tc.want, e[0].Pending)
			}
		})
	}
}
