//go:build unix

package localcp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

func TestMain(m *testing.M) {
	os.Exit(cptest.Main(m, localcp.Options{AuditLog: true}.All()))
}

func clientset(t *testing.T, cp *localcp.ControlPlane) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Pods need the namespace's "default" ServiceAccount, which
	// kube-controller-manager creates shortly after the namespace.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("ServiceAccount %s/default not created: %v", name, err)
	}
}

func TestStartWithoutBinaries(t *testing.T) {
	_, err := localcp.Start(context.Background(), localcp.Options{BinDir: t.TempDir()})
	if !errors.Is(err, localcp.ErrBinariesMissing) {
		t.Fatalf("Start with an empty bin dir: got %v, want ErrBinariesMissing", err)
	}
	if !strings.Contains(err.Error(), "make controlplane-binaries") || !strings.Contains(err.Error(), "kube-apiserver") {
		t.Errorf("error does not say what is missing and what to run: %v", err)
	}
}

func TestKubeconfigAndVersion(t *testing.T) {
	cp := cptest.Get(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != localcp.KubernetesVersion {
		t.Errorf("server version %q, want %q", v.GitVersion, localcp.KubernetesVersion)
	}
	t.Logf("apiserver %s (%s), etcd %s, started in %s", v.GitVersion, cp.APIServerURL, cp.EtcdEndpoint, cp.StartupDuration)
	env := strings.Join(cp.Env(), "\n")
	for _, want := range []string{"KUBECONFIG=" + cp.KubeconfigPath, "ETCD_ENDPOINT=" + cp.EtcdEndpoint} {
		if !strings.Contains(env, want) {
			t.Errorf("Env() lacks %q:\n%s", want, env)
		}
	}
}

// TestDeploymentPodRunning: kube-controller-manager makes the ReplicaSet and
// Pod, kube-scheduler binds it to kwok's node, kwok makes it Running and Ready.
func TestDeploymentPodRunning(t *testing.T) {
	cp := cptest.Get(t)
	cs := clientset(t, cp)
	ns := "deploy-test"
	createNamespace(t, cs, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	labels := map[string]string{"app": "web"}
	start := time.Now()
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.29"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var last string
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		if len(pods.Items) == 0 {
			last = "no pod yet"
			return false, nil
		}
		p := pods.Items[0]
		last = fmt.Sprintf("pod %s phase %q node %q conditions %v", p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.Conditions)
		if p.Status.Phase != corev1.PodRunning {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				if p.Spec.NodeName != localcp.KwokNodeName {
					return false, fmt.Errorf("pod on node %q, want %q", p.Spec.NodeName, localcp.KwokNodeName)
				}
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("Deployment's pod not Running+Ready: %v; last seen: %s", err, last)
	}
	t.Logf("Deployment's pod Running and Ready %s after creation", time.Since(start).Round(time.Millisecond))

	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = fmt.Sprintf("deployment status %+v", d.Status)
		return d.Status.ReadyReplicas == 1 && d.Status.AvailableReplicas == 1, nil
	})
	if err != nil {
		t.Fatalf("Deployment not available: %v; last seen: %s", err, last)
	}
}

// TestJobCompletes: kwok moves a Job's pod to Succeeded, and the Job
// controller marks the Job Complete.
func TestJobCompletes(t *testing.T) {
	cp := cptest.Get(t)
	cs := clientset(t, cp)
	ns := "job-test"
	createNamespace(t, cs, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	start := time.Now()
	_, err := cs.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "once"},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "once", Image: "busybox:1.37", Command: []string{"true"}}},
				},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var last string
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = fmt.Sprintf("job status %+v", j.Status)
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("Job not Complete: %v; last seen: %s", err, last)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=once"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodSucceeded {
		t.Fatalf("want one Succeeded pod, got %d pods: %+v", len(pods.Items), pods.Items)
	}
	t.Logf("Job Complete %s after creation", time.Since(start).Round(time.Millisecond))
}

// TestLoopbackOnly: every TCP socket a component listens on is bound to a
// loopback address (Linux: read from /proc).
func TestLoopbackOnly(t *testing.T) {
	cp := cptest.Get(t)
	listen, err := listeningSockets()
	if err != nil {
		t.Skipf("cannot read /proc/net/tcp*: %v", err)
	}
	for name, pid := range cp.PIDs() {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatalf("%s (pid %d): %v", name, pid, err)
		}
		n := 0
		for _, fd := range fds {
			target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err != nil || !strings.HasPrefix(target, "socket:[") {
				continue
			}
			inode := strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")
			addr, ok := listen[inode]
			if !ok {
				continue
			}
			n++
			if !addr.loopback {
				t.Errorf("%s (pid %d) listens on %s, not loopback", name, pid, addr.text)
			} else {
				t.Logf("%s (pid %d) listens on %s", name, pid, addr.text)
			}
		}
		if name != "kwok" && n == 0 {
			t.Errorf("%s (pid %d): no listening socket found", name, pid)
		}
	}
}

type sockAddr struct {
	text     string
	loopback bool
}

// listeningSockets maps socket inodes to the local address of every TCP
// socket in state LISTEN.
func listeningSockets() (map[string]sockAddr, error) {
	out := map[string]sockAddr{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			local := fields[1] // hex IP:hex port
			ip := strings.SplitN(local, ":", 2)[0]
			loop := false
			switch len(ip) {
			case 8: // IPv4, little-endian: 127.x.x.x ends with 7F
				loop = strings.HasSuffix(ip, "7F")
			case 32: // IPv6 ::1, or ::ffff:127.x.x.x
				loop = ip == "00000000000000000000000001000000" ||
					(strings.HasPrefix(ip, "0000000000000000FFFF0000") && strings.HasSuffix(ip, "7F"))
			}
			out[fields[9]] = sockAddr{text: f + " " + local, loopback: loop}
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func TestLogsInWorkDir(t *testing.T) {
	cp := cptest.Get(t)
	for name := range cp.PIDs() {
		p := cp.LogPath(name)
		if filepath.Dir(filepath.Dir(p)) != cp.Dir {
			t.Errorf("log of %s at %s, not in the work dir %s", name, p, cp.Dir)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("log of %s: %v", name, err)
		}
	}
}

// TestAPIServerOnlyAndCancel: etcd and kube-apiserver alone. Pods can be
// created without kube-controller-manager (no ServiceAccount needed) and the
// test plays the kubelet by writing pod status. Cancelling Start's context
// stops every process.
func TestAPIServerOnlyAndCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cp := cptest.Start(t, ctx, localcp.Options{})
	if len(cp.PIDs()) != 2 {
		t.Fatalf("want etcd and kube-apiserver only, got %v", cp.PIDs())
	}
	t.Logf("etcd + kube-apiserver started in %s", cp.StartupDuration.Round(time.Millisecond))
	cs := clientset(t, cp)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bare"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := cs.CoreV1().Pods("bare").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.37"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod without kube-controller-manager: %v", err)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := cs.CoreV1().Pods("bare").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("write pod status: %v", err)
	}

	pids := cp.PIDs()
	cancel()
	select {
	case <-cp.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("control plane not stopped 30 s after its context was cancelled")
	}
	for name, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("%s (pid %d) still exists after stop", name, pid)
		}
	}
	if _, err := os.Stat(cp.Dir); !os.IsNotExist(err) {
		t.Errorf("temporary work dir %s not removed: %v", cp.Dir, err)
	}
}
