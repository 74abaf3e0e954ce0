//go:build linux

package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/tools/cluster"
)

// receiverValues are demo-receive's values for a receiver on a real node,
// with extra receiver settings.
func receiverValues(receiver map[string]any) map[string]any {
	r := map[string]any{"port": 9000}
	for k, v := range receiver {
		r[k] = v
	}
	return map[string]any{
		"image":           cluster.Image("receiver"),
		"imagePullPolicy": "Never",
		"nodeSelector":    map[string]any{localcp.RealNodeLabel: localcp.RealNodeLabelValue},
		"receiver":        r,
	}
}

// taskValues are demo-task's: one Job running the receiver until it exits.
func taskValues(receiver map[string]any, resources map[string]any) map[string]any {
	v := receiverValues(receiver)
	if resources != nil {
		v["resources"] = resources
	}
	return v
}

func (s *suite) create(t *testing.T, id, chart string, values map[string]any) {
	t.Helper()
	err := s.store.CreateDeployment(context.Background(), configdb.Deployment{ID: id, Kind: configdb.KindHelm, Chart: chart, Values: values})
	if err != nil {
		t.Fatalf("create deployment %s: %v", id, err)
	}
}

// waitState waits until the state entry of id meets cond.
func (s *suite) waitState(t *testing.T, id string, timeout time.Duration, what string, cond func(configdb.DeploymentState, bool) bool) configdb.DeploymentState {
	t.Helper()
	var st configdb.DeploymentState
	eventually.Eventually(t, timeout, func() error {
		var found bool
		var err error
		st, found, err = s.store.GetState(context.Background(), id)
		if err != nil {
			return err
		}
		if !cond(st, found) {
			return fmt.Errorf("state of %s: %s not reached: %+v (release %+v)", id, what, st.Pods, st.Release)
		}
		return nil
	})
	return st
}

func deployed(pods int, status configdb.PodStatus) func(configdb.DeploymentState, bool) bool {
	return func(st configdb.DeploymentState, found bool) bool {
		if !found || st.Release == nil || st.Release.Status != "deployed" || len(st.Pods) != pods {
			return false
		}
		for _, ps := range st.Pods {
			if ps != status {
				return false
			}
		}
		return true
	}
}

func gone(_ configdb.DeploymentState, found bool) bool { return !found }

// releasePods are the pods of a deployment's release in the processing
// namespace.
func (s *suite) releasePods(t *testing.T, id string) []corev1.Pod {
	t.Helper()
	name, err := configdb.ReleaseName("", id)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.cs.CoreV1().Pods(cluster.ProcessingNS).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// remove deletes the entry and waits until its state entry and its pods
// are gone.
func (s *suite) remove(t *testing.T, id string) {
	t.Helper()
	if _, err := s.store.DeleteDeployment(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, id, 90*time.Second, "gone", gone)
	eventually.Eventually(t, 90*time.Second, func() error {
		if n := len(s.releasePods(t, id)); n > 0 {
			return fmt.Errorf("%s: %d pods left", id, n)
		}
		return nil
	})
}

// happyPath: entry → release → a pod RUNNING from a real container →
// entry deleted → release, pod and state entry gone.
func (s *suite) happyPath(t *testing.T) {
	const id = "node-happy"
	t0 := time.Now()
	s.create(t, id, "demo-receive", receiverValues(nil))
	st := s.waitState(t, id, 2*time.Minute, "deployed, 1 pod RUNNING", deployed(1, configdb.PodRunning))
	t.Logf("entry to pod RUNNING in its state entry: %s", time.Since(t0).Round(time.Millisecond))
	s.rep.Add("happy path: entry written → release deployed, pod RUNNING (real container) in the state entry", time.Since(t0))
	if len(st.Reasons) != 0 {
		t.Errorf("reasons %+v for a RUNNING pod, want none", st.Reasons)
	}
	pods := s.releasePods(t, id)
	if len(pods) != 1 {
		t.Fatalf("%d pods, want 1", len(pods))
	}
	cst := pods[0].Status.ContainerStatuses
	if len(cst) != 1 || cst[0].State.Running == nil || cst[0].ContainerID == "" {
		t.Fatalf("container statuses %+v, want one running container", cst)
	}
	pid, err := ContainerProcess(cst[0].ContainerID)
	if err != nil {
		t.Fatalf("the receiver's container has no process: %v", err)
	}
	f, err := ReadProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("receiver running as pid %d (uid %d) on %s", pid, f.UID, pods[0].Spec.NodeName)
	t1 := time.Now()
	s.remove(t, id)
	t.Logf("entry deleted to release, pod and state gone: %s", time.Since(t1).Round(time.Millisecond))
	s.rep.Add("happy path: entry deleted → release, pod and state entry gone", time.Since(t1))
}

// leaderDeleted: the leader pod of each service deleted → the other
// replica leads, and a new deployment converges.
func (s *suite) leaderDeleted(t *testing.T) {
	ctx := context.Background()
	before := s.leaders(t)
	t0 := time.Now()
	for _, svc := range cluster.Services {
		p := before[svc.Name]
		if err := s.cs.CoreV1().Pods(cluster.SystemNS).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("delete %s's leader %s: %v", svc.Name, p.Name, err)
		}
		t.Logf("%s: deleted leader %s on %s", svc.Name, p.Name, p.Spec.NodeName)
	}
	eventually.Eventually(t, 90*time.Second, func() error {
		for _, svc := range cluster.Services {
			pods, err := s.c.ServicePods(ctx, svc.Name)
			if err != nil {
				return err
			}
			for _, p := range pods {
				if p.Name == before[svc.Name].Name {
					return fmt.Errorf("%s: deleted leader %s still there", svc.Name, p.Name)
				}
			}
		}
		return nil
	})
	after := s.leaders(t)
	for _, svc := range cluster.Services {
		if after[svc.Name].Name == before[svc.Name].Name {
			t.Errorf("%s: %s still leads", svc.Name, after[svc.Name].Name)
		}
	}
	t.Logf("every service led by another pod %s after the deletes", time.Since(t0).Round(time.Millisecond))
	s.rep.Add("failover: each service's leader pod deleted → the other pod of each leads", time.Since(t0))
	const id = "node-failover"
	t1 := time.Now()
	s.create(t, id, "demo-receive", receiverValues(nil))
	s.waitState(t, id, 2*time.Minute, "deployed, 1 pod RUNNING", deployed(1, configdb.PodRunning))
	s.rep.Add("failover: a new entry, under the new leaders → pod RUNNING", time.Since(t1))
	s.remove(t, id)
}

// realFailures: what a real kubelet reports for an image that is not
// there, a container that exits non-zero, a crash loop and an OOM kill,
// as the state entries show it, checked against the pods' own statuses.
func (s *suite) realFailures(t *testing.T) {
	cases := []struct {
		id, chart string
		what      string
		values    map[string]any
		want      configdb.PodStatus
		// kube checks what the kubelet said of the pod's container.
		kube func(corev1.ContainerStatus) error
		// reason checks why the state entry says the pod is so (nil: it
		// must say nothing, as for a pod that ran to its end).
		reason func(configdb.PodReason) error
	}{
		{
			id: "node-noimage", what: "an image that is not there", chart: "demo-receive",
			values: func() map[string]any {
				v := receiverValues(nil)
				v["image"] = "sdp-helmdeploy/not-there:none"
				return v
			}(),
			want: configdb.PodPending,
			kube: func(c corev1.ContainerStatus) error {
				if c.State.Waiting == nil || c.State.Waiting.Reason != "ErrImageNeverPull" {
					return fmt.Errorf("state %+v, want waiting ErrImageNeverPull", c.State)
				}
				return nil
			},
			reason: func(r configdb.PodReason) error {
				if r.Reason != "ErrImageNeverPull" || r.Container != "receive" || !strings.Contains(r.Message, "not-there") {
					return fmt.Errorf("reason %+v, want ErrImageNeverPull of container receive naming the image", r)
				}
				return nil
			},
		},
		{
			id: "node-crashloop", what: "a crash loop", chart: "demo-receive",
			values: receiverValues(map[string]any{"exitAfter": "500ms", "exitCode": 2}),
			want:   configdb.PodPending,
			kube: func(c corev1.ContainerStatus) error {
				if c.RestartCount < 1 || c.LastTerminationState.Terminated == nil || c.LastTerminationState.Terminated.ExitCode != 2 {
					return fmt.Errorf("restarts %d, last state %+v; want restarts after exit code 2", c.RestartCount, c.LastTerminationState)
				}
				return nil
			},
			reason: func(r configdb.PodReason) error {
				if r.Reason != "CrashLoopBackOff" || r.ExitCode == nil || *r.ExitCode != 2 {
					return fmt.Errorf("reason %+v, want CrashLoopBackOff after exit code 2", r)
				}
				return nil
			},
		},
		{
			id: "node-exit", what: "a container exits 3", chart: "demo-task",
			values: taskValues(map[string]any{"exitAfter": "1s", "exitCode": 3}, nil),
			want:   configdb.PodFailed,
			kube: func(c corev1.ContainerStatus) error {
				if c.State.Terminated == nil || c.State.Terminated.ExitCode != 3 {
					return fmt.Errorf("state %+v, want terminated with exit code 3", c.State)
				}
				return nil
			},
			reason: func(r configdb.PodReason) error {
				if r.ExitCode == nil || *r.ExitCode != 3 || r.Container != "task" {
					return fmt.Errorf("reason %+v, want container task's exit code 3", r)
				}
				return nil
			},
		},
		{
			id: "node-oom", what: "an OOM kill", chart: "demo-task",
			values: taskValues(map[string]any{"exitAfter": "30s", "allocMiB": 256},
				map[string]any{"limits": map[string]any{"memory": "64Mi"}}),
			want: configdb.PodFailed,
			kube: func(c corev1.ContainerStatus) error {
				if c.State.Terminated == nil || c.State.Terminated.Reason != "OOMKilled" {
					return fmt.Errorf("state %+v, want terminated OOMKilled", c.State)
				}
				return nil
			},
			reason: func(r configdb.PodReason) error {
				if r.Reason != "OOMKilled" && r.ExitReason != "OOMKilled" {
					return fmt.Errorf("reason %+v, want OOMKilled", r)
				}
				return nil
			},
		},
		{
			id: "node-task-done", what: "a Job that ends well", chart: "demo-task",
			values: taskValues(map[string]any{"exitAfter": "1s", "exitCode": 0}, nil),
			want:   configdb.PodFinished,
			kube: func(c corev1.ContainerStatus) error {
				if c.State.Terminated == nil || c.State.Terminated.ExitCode != 0 {
					return fmt.Errorf("state %+v, want terminated with exit code 0", c.State)
				}
				return nil
			},
		},
	}
	t0 := time.Now()
	for _, tc := range cases {
		s.create(t, tc.id, tc.chart, tc.values)
	}
	for _, tc := range cases {
		t.Run(tc.id, func(t *testing.T) {
			s.waitState(t, tc.id, 2*time.Minute, fmt.Sprintf("deployed, 1 pod %s", tc.want), deployed(1, tc.want))
			eventually.Eventually(t, 60*time.Second, func() error {
				pods := s.releasePods(t, tc.id)
				if len(pods) != 1 || len(pods[0].Status.ContainerStatuses) != 1 {
					return fmt.Errorf("%d pods, want 1 with one container status", len(pods))
				}
				return tc.kube(pods[0].Status.ContainerStatuses[0])
			})
			// And the state entry says why, where scripts and operators
			// look.
			eventually.Eventually(t, 60*time.Second, func() error {
				st, _, err := s.store.GetState(context.Background(), tc.id)
				if err != nil {
					return err
				}
				if tc.reason == nil {
					if len(st.Reasons) != 0 {
						return fmt.Errorf("reasons %+v, want none", st.Reasons)
					}
					return nil
				}
				if len(st.Reasons) != 1 {
					return fmt.Errorf("reasons %+v, want one for the pod", st.Reasons)
				}
				for pod, r := range st.Reasons {
					if _, ok := st.Pods[pod]; !ok {
						return fmt.Errorf("a reason for %s, which is not in the pods part %v", pod, st.Pods)
					}
					if err := tc.reason(r); err != nil {
						return err
					}
					t.Logf("%s: %s %s: %s", pod, st.Pods[pod], r.Reason, r.Message)
				}
				return nil
			})
			said := "and its reason"
			if tc.reason == nil {
				said = "and no reason"
			}
			s.rep.Add(fmt.Sprintf("failure %s (%s): entries written → %s %s in the state entry", tc.id, tc.what, tc.want, said), time.Since(t0))
		})
	}
	for _, tc := range cases {
		s.remove(t, tc.id)
	}
}
