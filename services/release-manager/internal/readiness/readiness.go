// Package readiness decides whether a release's workloads are ready, by
// kstatus's rules (sigs.k8s.io/cli-utils/pkg/kstatus): Deployments,
// StatefulSets and DaemonSets rolled out with their replicas available,
// Jobs complete, PersistentVolumeClaims bound. A Job that failed makes the
// release failed, with the Job's reason. docs/architecture.md, §4a. What runs: drift and readiness.
package readiness

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/drift"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Result is a release's readiness as the state entry says it.
type Result struct {
	// State is configdb.ReadinessReady, ReadinessNotReady or
	// ReadinessFailed.
	State string
	// Reason names the first object not ready and why; empty when ready.
	Reason string
}

// Of reads the workloads among objects (in namespace) and decides. An
// object that is missing is not ready (drift correction, or Helm, makes it);
// a read that fails is an error.
func Of(ctx context.Context, client dynamic.Interface, namespace string, objects []drift.Object) (Result, error) {
	res := Result{State: configdb.ReadinessReady}
	for _, o := range objects {
		if !drift.ReadinessKinds[o.Kind] {
			continue
		}
		u, err := client.Resource(o.GVR).Namespace(namespace).Get(ctx, o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			if res.State == configdb.ReadinessReady {
				res = Result{State: configdb.ReadinessNotReady, Reason: fmt.Sprintf("%s %s: not found", o.Kind, o.Name)}
			}
			continue
		}
		if err != nil {
			return Result{}, fmt.Errorf("readiness: read %s %s: %w", o.Kind, o.Name, err)
		}
		st, err := status.Compute(u)
		if err != nil {
			return Result{}, fmt.Errorf("readiness: %s %s: %w", o.Kind, o.Name, err)
		}
		switch st.Status {
		case status.CurrentStatus:
			continue
		case status.FailedStatus:
			// A failure outranks anything merely not ready yet.
			return Result{State: configdb.ReadinessFailed, Reason: reason(o, st, failedCondition(u))}, nil
		default:
			if res.State == configdb.ReadinessReady {
				res = Result{State: configdb.ReadinessNotReady, Reason: reason(o, st, "")}
			}
		}
	}
	return res, nil
}

func reason(o drift.Object, st *status.Result, why string) string {
	msg := st.Message
	if msg == "" {
		msg = string(st.Status)
	}
	if why != "" {
		msg += " (" + why + ")"
	}
	return configdb.BoundMessage(fmt.Sprintf("%s %s: %s", o.Kind, o.Name, msg))
}

// failedCondition is the reason and message of a failed object's Failed
// condition (a Job's BackoffLimitExceeded, DeadlineExceeded...), which
// kstatus's summary leaves out.
func failedCondition(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Failed" || m["status"] != "True" {
			continue
		}
		reason, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		switch {
		case reason != "" && msg != "":
			return reason + ": " + msg
		default:
			return reason + msg
		}
	}
	return ""
}
