// Package e2e runs the whole Helm Deployer as it is deployed — the three
// service binaries, two replicas each with leader election, with the
// arguments and environment that the umbrella chart gives their containers —
// against a real config-DB etcd process, the local control plane (etcd,
// kube-apiserver, controller manager, scheduler, kwok) and a chart
// repository served over HTTP, and drives it only through the config DB,
// the way a processing script does.
//
// Its tests (make e2e) are the happy path and a chaos run: churn of
// deployments while service replicas are killed, the config etcd restarted
// and compacted past the services' revision, the API server stopped and
// frozen, and leaders killed; afterwards the system must converge to exactly what the
// entries ask for (see Check). Figures go to the file named by
// SDP_E2E_REPORT.
package e2e
