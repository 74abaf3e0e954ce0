// Package e2e runs the whole Helm Deployer as it is deployed — the three
// service binaries, two replicas each with leader election, with the
// arguments and environment that the umbrella chart gives their containers —
// against a config DB of three real etcd processes (each member behind a
// proxy the test can cut), the local control plane (etcd, kube-apiserver
// with an audit log, controller manager, scheduler, kwok) and a chart
// repository served over HTTP, and drives it only through the config DB,
// the way a processing script does.
//
// Its tests (make e2e) are the happy path and a chaos run: churn of
// deployments while service replicas are killed, leaders killed and frozen
// (SIGSTOP) for twice their lease, the config DB restarted, one member
// killed and restarted and another cut off, etcd compacted past the
// services' revision, and the API server stopped and frozen; afterwards the
// system must converge to exactly what the entries ask for (see Check)
// within ConvergeLimit of the last fault (ConvergeBound is the target
// the report measures the run against), and each frozen leader must have
// made no mutating API request (audit log) and no config DB write (etcd
// revision) after its term ended (see PauseProof). Figures go to the file
// named by SDP_E2E_REPORT.
package e2e
