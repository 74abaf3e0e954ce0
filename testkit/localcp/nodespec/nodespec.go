// Package nodespec is what testkit/localcp tells a real node's init
// (testkit/cmd/sdp-node-init) to make and run, as the JSON file the init
// reads: one definition for the writer and the reader. See
// docs/architecture.md, §7.
package nodespec

// Spec is one node.
type Spec struct {
	// Tmpfs are directories that the daemons write to at fixed places (the
	// kubelet's /var/log/containers, CNI's /var/lib/cni cache, containerd's
	// shim sockets under /run/containerd, network namespaces under
	// /run/netns): each gets a tmpfs of its own in the node's mount
	// namespace, so that two nodes do not share them and nothing is left on
	// the host's disk.
	Tmpfs []string `json:"tmpfs"`
	// Sysctls are kernel settings as the node's daemons must read them,
	// by path under /proc/sys. The kubelet sets a few host-wide ones
	// (vm.overcommit_memory, kernel.panic, ...) unless they already hold
	// its values; they are not namespaced, and this machine is not the
	// node's to change. So each is shown to the node, and only to it, as
	// a file with the value the kubelet wants, bound over the real one in
	// the node's mount namespace; nothing is written to the kernel.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Procs are started in order.
	Procs []Proc `json:"procs"`
}

// Proc is one daemon of the node.
type Proc struct {
	Name string   `json:"name"`
	Path string   `json:"path"`
	Args []string `json:"args"`
	Env  []string `json:"env"`
	Log  string   `json:"log"`
	// WaitFile, when set, holds back this process until the file exists:
	// the mark localcp writes once the node's images are imported.
	WaitFile string `json:"waitFile,omitempty"`
}
