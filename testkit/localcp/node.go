//go:build linux

package localcp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/nodespec"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
)

// A real node is a kubelet with its own containerd (Debian's, run by hand),
// runc and CNI, running real containers. Each node lives in network, mount
// and PID namespaces of its own, made by its init (testkit/cmd/sdp-node-init):
//
//   - network: the namespace holds only lo. Nothing of the node can reach
//     any address but loopback, and two nodes' host-network pods (the
//     services, which must reach the API server and etcd) can use the same
//     ports. Forwarders carry the few connections that cross: from the
//     node's 127.0.0.1 to the API server, etcd and whatever ForwardIn adds
//     on the host's loopback; from the node's address on the host
//     (127.0.2.<n>) to the kubelet and whatever Expose adds on the node's.
//   - mount: overlay snapshots, pods' volumes and the directories the
//     daemons use at fixed places are mounted there only, and vanish with
//     the node.
//   - PID: stopping the init by its PID stops everything of the node,
//     containerd's shims and the containers included.
//
// Pods choose real nodes by the label RealNodeLabel=RealNodeLabelValue
// (kwok's node carries type=kwok).

// RealNodeLabel and RealNodeLabelValue mark the real nodes.
const (
	RealNodeLabel      = "type"
	RealNodeLabelValue = "real"
)

// Where Debian's packages (scripts/install-node-packages.sh) put what a real
// node runs beside the kubelet.
const (
	containerdBin  = "/usr/bin/containerd"
	ctrBin         = "/usr/bin/ctr"
	shimBin        = "/usr/bin/containerd-shim-runc-v2"
	runcBin        = "/usr/sbin/runc"
	cniLoopbackBin = "/usr/lib/cni/loopback"
)

// ErrNodePackagesMissing is matched by the error Start returns when a real
// node is wanted and containerd, runc or the CNI plugins are not installed.
var ErrNodePackagesMissing = errors.New("real node packages not installed: run `make node-packages` (scripts/install-node-packages.sh)")

const (
	kubeletPort = 10250
	dialTimeout = 5 * time.Second
)

// RealNode is a running real node.
type RealNode struct {
	// Name is the node's name (sdp-node-<n>).
	Name string
	// IP is the node's InternalIP, 127.0.2.<n>: on the host, the kubelet and
	// every port given to Expose answer there; in the node, it is one of
	// lo's addresses, as every host-network pod's IP is.
	IP string
	// Dir holds its configuration, state and logs.
	Dir string
	// CgroupRoot is the kubelet's cgroupRoot, under every cgroup hierarchy.
	CgroupRoot string
	// Socket is its containerd's address.
	Socket string

	init   *proc.Process
	netns  *os.File
	fwds   []*forwarder
	cgDirs []string
}

func checkNodePackages() error {
	var missing []string
	for _, b := range []string{containerdBin, ctrBin, shimBin, runcBin, cniLoopbackBin} {
		if st, err := os.Stat(b); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrNodePackagesMissing, strings.Join(missing, ", "))
	}
	return nil
}

// buildNodeHelpers builds the node's init and CNI plugin from this module's
// source into dir: they change with the repository, so they are not cached
// with the pinned binaries.
func buildNodeHelpers(ctx context.Context, dir string) error {
	src := "."
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		src = filepath.Dir(file)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"github.com/ska-telescope/sdp-helmdeploy/testkit/cmd/sdp-node-init",
		"github.com/ska-telescope/sdp-helmdeploy/testkit/cmd/sdp-cni-lo")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the node's init and CNI plugin: %w\n%s", err, out)
	}
	return nil
}

// startRealNode starts node i (0-based) and returns once it is Ready with
// its images imported.
func (cp *ControlPlane) startRealNode(ctx context.Context, i int, kubeletBin, helpers string, pk *pki, cs kubernetes.Interface) (*RealNode, error) {
	name := nodeNames(cp.opts.RealNodes)[i]
	dir := filepath.Join(cp.Dir, "nodes", name)
	n := &RealNode{
		Name:       name,
		IP:         fmt.Sprintf("127.0.2.%d", i+1),
		Dir:        dir,
		CgroupRoot: fmt.Sprintf("/sdp-localcp/%s-%d", name, os.Getpid()),
		Socket:     filepath.Join(dir, "containerd", "containerd.sock"),
	}
	cp.nodes = append(cp.nodes, n) // stopped by Stop from here on, whatever fails below
	// A kept work directory holds the last run's node: its state, and the
	// mark that lets the kubelet start before its images are imported.
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("node %s: clear %s: %w", name, dir, err)
	}
	for _, d := range []string{"containerd/root", "containerd/state", "kubelet", "cni/bin", "cni/net.d", "pod-logs", "logs", "volume-plugins"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, l := range [][2]string{{cniLoopbackBin, "loopback"}, {filepath.Join(helpers, "sdp-cni-lo"), "sdp-cni-lo"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, "cni/bin", l[1])); err != nil && !os.IsExist(err) {
			return nil, err
		}
	}
	if err := n.writeConfig(cp, pk); err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	if err := n.makeCgroups(); err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}

	imported := filepath.Join(dir, "images-imported")
	spec := nodespec.Spec{
		Tmpfs: []string{"/run/containerd", "/run/netns", "/var/lib/cni", "/var/log/containers", "/var/log/pods"},
		// What the kubelet would otherwise set host-wide (its
		// setupKernelTunables); see sdp-node-init.
		Sysctls: map[string]string{
			"vm/overcommit_memory":      "1",
			"vm/panic_on_oom":           "0",
			"kernel/panic":              "10",
			"kernel/panic_on_oops":      "1",
			"kernel/keys/root_maxkeys":  "1000000",
			"kernel/keys/root_maxbytes": "25000000",
		},
		Procs: []nodespec.Proc{
			{
				Name: "containerd", Path: containerdBin,
				Args: []string{"--config", filepath.Join(dir, "containerd.toml")},
				Env:  []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
				Log:  filepath.Join(dir, "logs", "containerd.log"),
			},
			{
				Name: "kubelet", Path: kubeletBin,
				Args: []string{
					"--config=" + filepath.Join(dir, "kubelet.yaml"),
					"--kubeconfig=" + filepath.Join(dir, "kubelet.kubeconfig"),
					"--hostname-override=" + name,
					"--node-ip=" + n.IP,
					"--root-dir=" + filepath.Join(dir, "kubelet"),
					"--cert-dir=" + filepath.Join(dir, "kubelet", "pki"),
					"--node-labels=" + RealNodeLabel + "=" + RealNodeLabelValue,
					"--v=1",
				},
				Env:      []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
				Log:      filepath.Join(dir, "logs", "kubelet.log"),
				WaitFile: imported,
			},
		},
	}
	specPath := filepath.Join(dir, "init.json")
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		return nil, err
	}
	n.init, err = proc.Start(proc.Options{
		Name: name, Bin: filepath.Join(helpers, "sdp-node-init"), Args: []string{specPath},
		Env: []string{}, LogPath: filepath.Join(dir, "logs", "init.log"), Header: true,
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
	})
	if err != nil {
		return nil, err
	}
	cp.log.Debug("started", "process", name+" init", "pid", n.init.PID(), "log", n.init.LogPath)
	if err := n.init.WaitFor(ctx, "its network namespace", func(context.Context) error {
		n.netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", n.init.PID()))
		return err
	}); err != nil {
		return nil, err
	}

	// The node's way out: its 127.0.0.1 to the API server and etcd.
	for _, url := range []string{cp.APIServerURL, cp.EtcdEndpoint} {
		if err := n.ForwardIn(PortOf(url)); err != nil {
			return nil, err
		}
	}
	// And in: the API server reaches the kubelet at the node's address.
	if err := n.Expose(kubeletPort); err != nil {
		return nil, err
	}

	t := time.Now()
	if err := n.init.WaitFor(ctx, "containerd answering", func(ctx context.Context) error {
		return n.ctr(ctx, "version")
	}); err != nil {
		return nil, err
	}
	for _, img := range cp.opts.NodeImages {
		if err := n.ctr(ctx, "images", "import", "--no-unpack=false", img); err != nil {
			return nil, fmt.Errorf("node %s: import %s: %w", name, img, err)
		}
	}
	cp.log.Debug("node images imported", "node", name, "images", len(cp.opts.NodeImages), "took", time.Since(t).Round(time.Millisecond))
	if err := os.WriteFile(imported, nil, 0o644); err != nil {
		return nil, err
	}
	if err := n.init.WaitFor(ctx, "node "+name+" Ready", func(ctx context.Context) error {
		node, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("node %s: Ready=%s: %s", name, c.Status, c.Message)
			}
		}
		return fmt.Errorf("node %s has no Ready condition yet", name)
	}); err != nil {
		return nil, fmt.Errorf("%w; kubelet log: %s", err, filepath.Join(dir, "logs", "kubelet.log"))
	}
	cp.log.Debug("real node ready", "node", name, "ip", n.IP, "took", time.Since(t).Round(time.Millisecond))
	return n, nil
}

// ForwardIn makes port on the host's loopback reachable at 127.0.0.1:port
// in the node: a config DB or a chart repository started after the node.
func (n *RealNode) ForwardIn(port int) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	f, err := listenForward(n.Name+" in", n.netns, addr, nil, addr)
	if err != nil {
		return err
	}
	n.fwds = append(n.fwds, f)
	return nil
}

// Expose makes port of the node's loopback (a host-network pod's, the
// kubelet's) reachable on the host at n.IP:port.
func (n *RealNode) Expose(port int) error {
	f, err := listenForward(n.Name+" out", nil, n.IP+":"+strconv.Itoa(port), n.netns, "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	n.fwds = append(n.fwds, f)
	return nil
}

// InitPID is the PID of the node's init (on the host): /proc/<pid>/net
// shows the node's network namespace.
func (n *RealNode) InitPID() int { return n.init.PID() }

// LogPath is the log of one of the node's daemons: "containerd", "kubelet"
// or "init".
func (n *RealNode) LogPath(daemon string) string { return filepath.Join(n.Dir, "logs", daemon+".log") }

// PodLogsDir is where the kubelet writes the containers' logs
// (<namespace>_<pod>_<uid>/<container>/<restart>.log).
func (n *RealNode) PodLogsDir() string { return filepath.Join(n.Dir, "pod-logs") }

// Import loads an image tarball into the node's containerd.
func (n *RealNode) Import(ctx context.Context, tarball string) error {
	return n.ctr(ctx, "images", "import", tarball)
}

func (n *RealNode) ctr(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, ctrBin, append([]string{"--address", n.Socket, "--namespace", "k8s.io"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (n *RealNode) writeConfig(cp *ControlPlane, pk *pki) error {
	d := n.Dir
	containerd := fmt.Sprintf(`version = 2
root = %q
state = %q

[grpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj is refused and
  # every sandbox would fail ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = %q
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
`, filepath.Join(d, "containerd/root"), filepath.Join(d, "containerd/state"), n.Socket,
		filepath.Join(d, "containerd/opt"), cp.opts.SandboxImage, runcBin,
		filepath.Join(d, "cni/bin"), filepath.Join(d, "cni/net.d"))
	// loopback brings lo up in the pod's namespace; sdp-cni-lo hands its
	// address to containerd as the pod's (see testkit/cmd/sdp-cni-lo).
	cni := `{
  "cniVersion": "1.0.0",
  "name": "sdp-loopback",
  "plugins": [{"type": "loopback"}, {"type": "sdp-cni-lo"}]
}
`
	kubelet := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://%s
cgroupDriver: cgroupfs
cgroupRoot: %s
# This machine's cgroups are v1 and it has no swap accounting to speak of.
failCgroupV1: false
failSwapOn: false
# A negative score is refused here (no CAP_SYS_RESOURCE).
oomScoreAdj: 0
podLogsDir: %q
resolvConf: %q
volumePluginDir: %q
# The images are imported, not pulled: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
maxPods: 60
serializeImagePulls: false
syncFrequency: 10s
shutdownGracePeriod: 0s
`, kubeletPort, pk.CAFile, n.Socket, n.CgroupRoot, filepath.Join(d, "pod-logs"),
		filepath.Join(d, "resolv.conf"), filepath.Join(d, "volume-plugins"))
	// The host's resolver is on a private address: pods get loopback only.
	files := map[string]string{
		"containerd.toml":           containerd,
		"cni/net.d/10-sdp.conflist": cni,
		"kubelet.yaml":              kubelet,
		"resolv.conf":               "nameserver 127.0.0.1\n",
	}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(d, f), []byte(c), 0o644); err != nil {
			return err
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["localcp"] = &clientcmdapi.Cluster{Server: cp.APIServerURL, CertificateAuthorityData: cp.CACertPEM}
	cfg.AuthInfos[n.Name] = &clientcmdapi.AuthInfo{Token: pk.NodeTokens[n.Name]}
	cfg.Contexts["localcp"] = &clientcmdapi.Context{Cluster: "localcp", AuthInfo: n.Name}
	cfg.CurrentContext = "localcp"
	return clientcmd.WriteToFile(*cfg, filepath.Join(d, "kubelet.kubeconfig"))
}

// makeCgroups creates the kubelet's cgroupRoot in every cgroup v1
// hierarchy (the kubelet refuses a root that does not exist), so that all
// the node's pods live under one tree that stop removes.
func (n *RealNode) makeCgroups() error {
	hs, err := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
	if err != nil {
		return err
	}
	for _, h := range hs {
		base := filepath.Dir(h)
		dir := base
		for _, part := range strings.Split(strings.Trim(n.CgroupRoot, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
				return fmt.Errorf("cgroup %s: %w", dir, err)
			}
			// A new cpuset cgroup has no CPUs or memory nodes until given
			// its parent's, and no task may join it before.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if b, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					if cur, _ := os.ReadFile(filepath.Join(dir, f)); strings.TrimSpace(string(cur)) == "" {
						_ = os.WriteFile(filepath.Join(dir, f), b, 0o644)
					}
				}
			}
		}
		n.cgDirs = append(n.cgDirs, dir)
	}
	return nil
}

// stop stops the node by its init's PID (which stops the kubelet, then
// containerd, then whatever is left in its PID namespace), closes the
// forwarders and removes the node's cgroups.
func (n *RealNode) stop(grace time.Duration) error {
	var errs []error
	if n.init != nil {
		// The init gives each daemon its own grace period first.
		if err := n.init.Stop(grace + 2*10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range n.fwds {
		_ = f.Close()
	}
	if n.netns != nil {
		n.netns.Close()
	}
	for _, d := range n.cgDirs {
		if err := removeCgroupTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	// The shared parent (/sdp-localcp) goes when no other node uses it.
	for _, d := range n.cgDirs {
		_ = syscall.Rmdir(filepath.Dir(d))
	}
	return errors.Join(errs...)
}

// removeCgroupTree removes a cgroup and its descendants, deepest first,
// killing by PID any process still in one (none should be: they all lived
// in the node's PID namespace, which ended with its init).
func removeCgroupTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		var rerr error
		for try := 0; try < 50; try++ {
			if b, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			if rerr = syscall.Rmdir(d); rerr == nil || errors.Is(rerr, syscall.ENOENT) {
				rerr = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if rerr != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, rerr))
		}
	}
	return errors.Join(errs...)
}
