// Package badinput is the bad-input catalogue of the Helm Deployer: a test
// (badinput_test.go) that runs the three service binaries against a real
// config DB etcd, the local control plane and a chart repository, feeds
// each of them bad input the way a processing script or an operator would
// (raw config DB keys and JSON, pods, NetworkAttachmentDefinitions), and
// checks that every case gives a clear error where the user looks, that no
// service crashes, and that good input given alongside still converges.
//
// With SDP_BADINPUT_REPORT=<path> the test writes what the user saw in
// each case to <path> as a Markdown table (make bad-input writes
// docs/bad-input.md).
package badinput
