//go:build unix

package localcp_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

// TestStopAPIServer: while stopped the API server refuses, then it comes
// back on the same address with the data it had, under a new PID.
func TestStopAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp := cptest.Start(t, ctx, localcp.Options{})
	cs := clientset(t, cp)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := cp.PIDs()["kube-apiserver"]
	start, err := cp.StopAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	_, err = cs.CoreV1().Namespaces().Get(short, "kept", metav1.GetOptions{})
	cancelShort()
	if err == nil {
		t.Error("the API server answered while stopped")
	}
	if err := start(ctx); err != nil {
		t.Fatal(err)
	}
	if after := cp.PIDs()["kube-apiserver"]; after == before {
		t.Errorf("same PID %d after the restart", after)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("after the restart: %v", err)
	}
	if err := cp.Exited(); err != nil {
		t.Errorf("a component exited: %v", err)
	}
}
