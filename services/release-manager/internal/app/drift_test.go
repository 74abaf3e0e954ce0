package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/reconciler"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// Drift against the real control plane: objects of live releases deleted
// and changed by hand, in each mode, with the cluster and the state entry
// checked, and no new Helm revision made.

func (e *testEnv) startDrift(mode string, correctChanged bool) {
	e.t.Helper()
	e.startWith(func(o *Options) {
		o.Reconciler = reconciler.Options{DriftMode: mode, DriftCorrectChanged: correctChanged}
	})
}

func driftOf(kind, name, change string, corrected bool) func(configdb.DeploymentState, bool) bool {
	return func(st configdb.DeploymentState, _ bool) bool {
		if st.Release == nil {
			return false
		}
		return slices.ContainsFunc(st.Release.Drift, func(d configdb.DriftRecord) bool {
			return d.Kind == kind && d.Name == name && d.Change == change && (d.Corrected != "") == corrected && d.Seen != ""
		})
	}
}

func ready(st configdb.DeploymentState, _ bool) bool {
	return st.Release != nil && st.Release.Readiness == configdb.ReadinessReady
}

func notReady(st configdb.DeploymentState, _ bool) bool {
	return st.Release != nil && st.Release.Readiness == configdb.ReadinessNotReady
}

// markAvailable writes a Deployment's status as its controller would once
// its replicas are up.
func (e *testEnv) markAvailable(name string) {
	e.t.Helper()
	d, err := e.deployment(name)
	if err != nil {
		e.t.Fatal(err)
	}
	n := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n,
		AvailableReplicas: n, Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"},
		}}
	if _, err := e.cs.AppsV1().Deployments(e.ns).UpdateStatus(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) deployment(name string) (*appsv1.Deployment, error) {
	return e.cs.AppsV1().Deployments(e.ns).Get(context.Background(), name, metav1.GetOptions{})
}

// byHand changes a Deployment's image as kubectl edit would.
func (e *testEnv) setImage(name, image string) {
	e.t.Helper()
	d, err := e.deployment(name)
	if err != nil {
		e.t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = image
	if _, err := e.cs.AppsV1().Deployments(e.ns).Update(context.Background(), d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) imageOf(name string) string {
	d, err := e.deployment(name)
	if err != nil {
		return "error: " + err.Error()
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func TestDriftDefaultModes(t *testing.T) {
	e := newEnv(t)
	e.startDrift("correct", false)
	e.put("recv", entry("recv", "demo-receive", `{}`))
	e.put("conf", entry("conf", "cm", `{"replicas": 2}`))
	// No controller-manager runs here: the Deployment has no pods until
	// its status is written by hand, as its controller would.
	e.waitState("recv", "deployed, not ready", func(st configdb.DeploymentState, f bool) bool {
		return deployedAt(1)(st, f) && st.Release.Readiness == configdb.ReadinessNotReady &&
			strings.HasPrefix(st.Release.ReadinessReason, "Deployment sdp-recv-receive: ")
	})
	e.markAvailable("sdp-recv-receive")
	e.waitState("recv", "ready once its status says so", ready)
	e.waitState("conf", "deployed", deployedAt(1))

	// Deleted: made again, the same object, no new revision.
	if err := e.cs.CoreV1().ConfigMaps(e.ns).Delete(context.Background(), "sdp-conf", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitState("conf", "deleted config map reported corrected", driftOf("ConfigMap", "sdp-conf", configdb.DriftDeleted, true))
	eventually.Eventually(t, 10*time.Second, func() error {
		cm, err := e.configMap("sdp-conf")
		if err != nil || cm.Data["replicas"] != "2" || cm.Labels["app.kubernetes.io/managed-by"] != "Helm" ||
			cm.Annotations["meta.helm.sh/release-name"] != "sdp-conf" {
			return fmt.Errorf("config map not back as the release holds it: %v %v", cm, err)
		}
		return nil
	})
	if err := e.cs.AppsV1().Deployments(e.ns).Delete(context.Background(), "sdp-recv-receive", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitState("recv", "deleted deployment reported corrected", driftOf("Deployment", "sdp-recv-receive", configdb.DriftDeleted, true))
	if _, err := e.deployment("sdp-recv-receive"); err != nil {
		t.Errorf("deployment not made again: %v", err)
	}
	e.waitState("recv", "not ready while the new Deployment has no replicas", notReady)

	// Changed: reported with the field, left as it is.
	e.setImage("sdp-recv-receive", "elsewhere/receiver:hand")
	st := e.waitState("recv", "changed deployment reported", driftOf("Deployment", "sdp-recv-receive", configdb.DriftChanged, false))
	i := slices.IndexFunc(st.Release.Drift, func(d configdb.DriftRecord) bool { return d.Change == configdb.DriftChanged })
	if want := "spec.template.spec.containers[name=receive].image"; !slices.Equal(st.Release.Drift[i].Fields, []string{want}) {
		t.Errorf("drift fields %q, want [%s]", st.Release.Drift[i].Fields, want)
	}
	time.Sleep(time.Second)
	if img := e.imageOf("sdp-recv-receive"); img != "elsewhere/receiver:hand" {
		t.Errorf("a changed object was put back in warn mode: image %s", img)
	}
	for _, name := range []string{"sdp-recv", "sdp-conf"} {
		if n := e.revisions(name); n != 1 {
			t.Errorf("%s: %d revisions after drift, want 1", name, n)
		}
	}
}

func TestDriftCorrectChanged(t *testing.T) {
	e := newEnv(t)
	e.startDrift("correct", true)
	e.put("recv", entry("recv", "demo-receive", `{}`))
	e.waitState("recv", "deployed", deployedAt(1))
	want := e.imageOf("sdp-recv-receive")
	e.setImage("sdp-recv-receive", "elsewhere/receiver:hand")
	e.waitState("recv", "changed deployment corrected", driftOf("Deployment", "sdp-recv-receive", configdb.DriftChanged, true))
	eventually.Eventually(t, 10*time.Second, func() error {
		if img := e.imageOf("sdp-recv-receive"); img != want {
			return fmt.Errorf("image %s, want %s put back", img, want)
		}
		return nil
	})
	if n := e.revisions("sdp-recv"); n != 1 {
		t.Errorf("%d revisions after a correction, want 1", n)
	}
}

func TestDriftWarnAndOff(t *testing.T) {
	for _, mode := range []string{"warn", "off"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			e.startDrift(mode, true)
			e.put("conf", entry("conf", "cm", `{}`))
			e.waitState("conf", "deployed", deployedAt(1))
			if err := e.cs.CoreV1().ConfigMaps(e.ns).Delete(context.Background(), "sdp-conf", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if mode == "warn" {
				e.waitState("conf", "deletion reported", driftOf("ConfigMap", "sdp-conf", configdb.DriftDeleted, false))
			} else {
				time.Sleep(2 * time.Second)
				if st, _, err := e.store.GetState(context.Background(), "conf"); err != nil || len(st.Release.Drift) != 0 {
					t.Errorf("drift reported with drift off: %+v %v", st.Release, err)
				}
			}
			if _, err := e.configMap("sdp-conf"); err == nil {
				t.Errorf("config map made again in mode %s", mode)
			}
		})
	}
}
