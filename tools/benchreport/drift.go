package benchreport

import "fmt"

// benchDrift is the release-manager's drift benchmark (drift.txt).
const benchDrift = "DriftRestore"

// driftTargets are issue 21's: a deleted object of a release back within
// 1 s p99 (100 deletes across 100 releases) with no new Helm revision,
// and a hand change reported within 1 s.
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
	return []Target{restore, report}
}
