//go:build linux

package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/tools/cluster"
)

// EnableEnv must be 1 for TestNode to run (make e2e-node sets it).
const EnableEnv = "SDP_NODE"

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(wd)) // tests/node
}

type suite struct {
	t     *testing.T
	root  string
	c     *cluster.Cluster
	cp    *localcp.ControlPlane
	cs    kubernetes.Interface
	store *configdb.Store
	rep   *Report
}

func TestNode(t *testing.T) {
	if os.Getenv(EnableEnv) != "1" {
		t.Skipf("the real-node suite runs with %s=1 (make e2e-node)", EnableEnv)
	}
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	work := t.TempDir()
	if d := os.Getenv("SDP_NODE_DIR"); d != "" {
		work = d
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	t0 := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Root: root, Dir: work, Nodes: 2, Replicas: 2, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			c.Stop()
		}
	}
	defer stop()
	t.Logf("images, control plane, %d real nodes and the umbrella chart's pods Ready in %s", len(c.CP.Nodes()), time.Since(t0).Round(time.Millisecond))
	s := &suite{t: t, root: root, c: c, cp: c.CP, cs: c.Client, store: c.Store, rep: &Report{}}
	s.rep.Add("images built (3 services, pause, receiver)", c.Took.Images)
	s.rep.Add("control plane and 2 real nodes Ready, images imported", c.Took.ControlPlane)
	s.rep.Add("umbrella chart installed → 6 service pods Ready (real probes)", c.Took.Umbrella)

	ok := t.Run("loopback only", s.loopbackOnly) &&
		t.Run("services ready", s.servicesReady) &&
		t.Run("one leader each", func(t *testing.T) { s.leaders(t) })
	if ok {
		t.Run("happy path", s.happyPath)
		t.Run("leader pod deleted", s.leaderDeleted)
		t.Run("real failures", s.realFailures)
	}
	if t.Failed() {
		s.dumpLogs(t)
	}
	cp := c.CP
	t2 := time.Now()
	stop()
	s.rep.Add("stop: nodes by their inits' PIDs, then the control plane", time.Since(t2))
	t.Run("nothing left", func(t *testing.T) { nothingLeft(t, cp) })
	total := time.Since(t0)
	t.Logf("suite took %s", total.Round(time.Second))
	if path := os.Getenv(ReportEnv); path != "" && !t.Failed() {
		if err := os.WriteFile(path, s.rep.Markdown(t0, os.Getenv("SDP_NODE_COMMIT"), total), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// loopbackOnly: each node's network namespace holds lo and nothing else,
// with no route: nothing in it can send a packet off this machine.
func (s *suite) loopbackOnly(t *testing.T) {
	for _, n := range s.cp.Nodes() {
		pid := n.InitPID()
		dev, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
		if err != nil {
			t.Fatal(err)
		}
		var ifaces []string
		for _, line := range strings.Split(string(dev), "\n")[2:] {
			if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				ifaces = append(ifaces, name)
			}
		}
		if len(ifaces) != 1 || ifaces[0] != "lo" {
			t.Errorf("node %s: interfaces %v, want only lo", n.Name, ifaces)
		}
		route, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/route", pid))
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(strings.TrimSpace(string(route)), "\n"); len(lines) > 1 {
			t.Errorf("node %s: IPv4 routes besides loopback's:\n%s", n.Name, route)
		}
	}
}

// servicesReady: the six service pods Ready through their own probes, one
// of each service on each node, each container running as uid 65532 on a
// read-only root, configured in-cluster (its service account's token, the
// API server's loopback address; no kubeconfig).
func (s *suite) servicesReady(t *testing.T) {
	ctx := context.Background()
	for _, svc := range cluster.Services {
		var pods []corev1.Pod
		eventually.Eventually(t, 3*time.Minute, func() error {
			var err error
			if pods, err = s.c.ServicePods(ctx, svc.Name); err != nil {
				return err
			}
			ready := 0
			for i := range pods {
				if cluster.Ready(&pods[i]) {
					ready++
				}
			}
			if ready != 2 || len(pods) != 2 {
				return fmt.Errorf("%s: %d of %d pods ready, want 2 of 2", svc.Name, ready, len(pods))
			}
			return nil
		})
		nodes := map[string]bool{}
		for _, p := range pods {
			nodes[p.Spec.NodeName] = true
			if !strings.HasPrefix(p.Spec.NodeName, "sdp-node-") {
				t.Errorf("%s on node %q, want a real node", p.Name, p.Spec.NodeName)
			}
			if p.Spec.ServiceAccountName == "" || p.Spec.ServiceAccountName == "default" {
				t.Errorf("%s: service account %q, want the chart's own", p.Name, p.Spec.ServiceAccountName)
			}
			cst := p.Status.ContainerStatuses
			if len(cst) != 1 || !cst[0].Ready || cst[0].RestartCount != 0 || cst[0].ContainerID == "" {
				t.Errorf("%s: container statuses %+v, want one ready container never restarted", p.Name, cst)
				continue
			}
			pid, err := ContainerProcess(cst[0].ContainerID)
			if err != nil {
				t.Error(err)
				continue
			}
			f, err := ReadProcess(pid)
			if err != nil {
				t.Error(err)
				continue
			}
			if f.UID != 65532 || !f.RootReadOnly {
				t.Errorf("%s: process %d uid %d, root read-only %v; want 65532 on a read-only root", p.Name, pid, f.UID, f.RootReadOnly)
			}
			if _, ok := f.Env["KUBECONFIG"]; ok {
				t.Errorf("%s: KUBECONFIG=%s set, want in-cluster configuration", p.Name, f.Env["KUBECONFIG"])
			}
			if f.Env["KUBERNETES_SERVICE_HOST"] != "127.0.0.1" || f.Env["KUBERNETES_SERVICE_PORT"] != fmt.Sprint(localcp.PortOf(s.cp.APIServerURL)) {
				t.Errorf("%s: API server %s:%s in its environment, want the loopback address", p.Name, f.Env["KUBERNETES_SERVICE_HOST"], f.Env["KUBERNETES_SERVICE_PORT"])
			}
			token, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/var/run/secrets/kubernetes.io/serviceaccount/token", pid))
			if err != nil || len(token) == 0 {
				t.Errorf("%s: no service account token in the container: %v", p.Name, err)
			}
		}
		if len(nodes) != 2 {
			t.Errorf("%s: pods on nodes %v, want one on each real node", svc.Name, nodes)
		}
	}
}

// leaders waits until each service has exactly one leading replica and
// returns the leader pod of each.
func (s *suite) leaders(t *testing.T) map[string]corev1.Pod {
	ctx := context.Background()
	out := map[string]corev1.Pod{}
	for _, svc := range cluster.Services {
		eventually.Eventually(t, 60*time.Second, func() error {
			pods, err := s.c.ServicePods(ctx, svc.Name)
			if err != nil {
				return err
			}
			var leading []corev1.Pod
			for _, p := range pods {
				if p.DeletionTimestamp != nil || !cluster.Ready(&p) {
					continue
				}
				lead, err := cluster.Leader(ctx, s.c.NodeAddr(p.Spec.NodeName, svc.Port))
				if err != nil {
					return err
				}
				if lead {
					leading = append(leading, p)
				}
			}
			if len(leading) != 1 {
				return fmt.Errorf("%s: %d leaders, want 1", svc.Name, len(leading))
			}
			out[svc.Name] = leading[0]
			return nil
		})
	}
	return out
}

// dumpLogs ends a failed run's output with the tails of the nodes' daemons'
// logs and of every container's, so that a CI log that keeps only its end
// still says what broke.
func (s *suite) dumpLogs(t *testing.T) {
	for _, n := range s.cp.Nodes() {
		for _, d := range []string{"init", "containerd", "kubelet"} {
			t.Logf("=== node %s: %s (last 40 lines of %s)\n%s", n.Name, d, n.LogPath(d), tail(n.LogPath(d), 40))
		}
		logs, _ := filepath.Glob(filepath.Join(n.PodLogsDir(), "*", "*", "*.log"))
		for _, l := range logs {
			t.Logf("=== node %s: container log %s (last 30 lines)\n%s", n.Name, l, tail(l, 30))
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// nothingLeft: after Stop, no process, mount or cgroup of a node remains.
func nothingLeft(t *testing.T, cp *localcp.ControlPlane) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, cp.Dir) || strings.Contains(line, "/run/netns/cni-") {
			t.Errorf("mount left: %s", line)
		}
	}
	for _, n := range cp.Nodes() {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + n.CgroupRoot)
		if len(dirs) > 0 {
			t.Errorf("node %s: cgroups left: %v", n.Name, dirs)
		}
	}
	// Every process of a node lived in the node's PID namespace: one in
	// any PID namespace but this process's is left over.
	self, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "pid"))
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		switch filepath.Base(exe) {
		case "containerd", "containerd-shim-runc-v2", "kubelet", "sdp-node-init":
			t.Errorf("process left: pid %s, %s", e.Name(), exe)
			continue
		}
		if ns != self {
			t.Errorf("process left in another PID namespace (%s): pid %s, %s", ns, e.Name(), exe)
		}
	}
}
