package benchreport

import "fmt"

// The release-manager's drift benchmark (drift.txt) and the pod-monitor's
// reasons benchmark (pod-monitor.txt).
const (
	benchDrift   = "DriftRestore"
	benchReasons = "PodReasonToState"
)

// driftTargets are issue 21's: a deleted object of a release back within
// 1 s p99 (100 deletes across 100 releases) with no new Helm revision, a
// hand change reported within 1 s, and a pod's reason in its state entry
// within 1 s, written only when it changes.
func driftTargets(rs *Results) []Target {
	restore := Target{Issue: 21, Service: "release-manager", What: "object of a release deleted (Deployment, StatefulSet, Service, ConfigMap in turn) → made again, p99",
		Goal: "≤ 1 s, 0 new Helm revisions", Status: NoData}
	report := Target{Issue: 21, Service: "release-manager", What: "object of a release changed by hand (warn) → reported in its state entry, p99",
		Goal: "≤ 1 s", Status: NoData}
	revs, okRevs := rs.Summarize(benchDrift, "new-revisions")
	if p99, ok := rs.Summarize(benchDrift, "restore-p99-ms"); ok && okRevs {
		p50, _ := rs.Summarize(benchDrift, "restore-p50-ms")
		n, _ := rs.Summarize(benchDrift, "releases")
		restore.Reached = fmt.Sprintf("%s ms (p50 %s ms; %s releases, %s); %s new revisions", p99, p50, Num(n.Max), runs(p99.N), Num(revs.Max))
		restore.Status = verdict(p99.Max <= 1000 && revs.Max == 0)
		restore.Limit = "From the delete: the metadata informer's event, one reconcile of the release (the revision's manifest read " +
			"from its Secret), one create; the 2 cores also run the API server and etcd."
	}
	if p99, ok := rs.Summarize(benchDrift, "report-p99-ms"); ok {
		p50, _ := rs.Summarize(benchDrift, "report-p50-ms")
		report.Reached = fmt.Sprintf("%s ms (p50 %s ms; %s)", p99, p50, runs(p99.N))
		report.Status = verdict(p99.Max <= 1000)
		report.Limit = "From the update: the informer's event, a GET of the object, the comparison, the state entry's write."
	}
	reason := Target{Issue: 21, Service: "pod-monitor", What: "a pod's reason changed in Kubernetes → in its state entry, p99; writes when a reason repeats",
		Goal: "≤ 1 s; 0", Status: NoData}
	if p99, ok := rs.Summarize(benchReasons, "p99-ms"); ok {
		p50, _ := rs.Summarize(benchReasons, "p50-ms")
		same, _ := rs.Summarize(benchReasons, "writes/100-same-reasons")
		reason.Reached = fmt.Sprintf("%s ms (p50 %s ms; %s); %s writes for 100 updates repeating a reason", p99, p50, runs(p99.N), Num(same.Max))
		reason.Status = verdict(p99.Max <= 1000 && same.Max == 0)
		reason.Limit = "From the status update: the API server's write, the pod informer's event, the pods map and reasons computed, one write."
	}
	return []Target{restore, report, reason}
}
