// Package node runs the Helm Deployer as a site runs it, on real nodes:
// the umbrella chart installed from the project's own images on two
// kubelets with containerd and runc (testkit/localcp, RealNodes), two
// replicas of each service as pods with their real probes, in-cluster
// configuration, their own service accounts, a read-only root filesystem
// and no root; leader election across the pods; processing pods that run
// real containers of the project's receiver image; and the failures a real
// kubelet reports (an image that is not there, a container that exits
// non-zero, a crash loop, an OOM kill) as the state entries show them.
//
// Nothing here may leave loopback: each node lives in a network namespace
// that holds only lo, and TestNode checks that it does. `make e2e-node`
// runs it (SDP_NODE=1); without that variable TestNode skips, so the
// module's plain `go test` runs only the unit tests.
package node
