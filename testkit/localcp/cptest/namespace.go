package cptest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Namespace creates namespace name for one test or benchmark run on the
// shared control plane and, when the run ends, empties it of what the
// runs create (pods, config maps, secrets): the next run in the same
// binary (-count, another size) then starts from a server that holds
// nothing of it, and the objects of a run at 5,000 do not slow the next.
// A deletion that fails five times over fails the test.
func Namespace(tb testing.TB, cs kubernetes.Interface, name string) {
	tb.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("namespace %s: %v", name, err)
	}
	tb.Cleanup(func() {
		for kind, del := range map[string]func() error{
			"pods": func() error {
				return cs.CoreV1().Pods(name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			},
			"config maps": func() error {
				return cs.CoreV1().ConfigMaps(name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			},
			"secrets": func() error {
				return cs.CoreV1().Secrets(name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			},
		} {
			// Deleting 20,000 pods outlasts the API server's request
			// timeout: the call fails having deleted part of them, and
			// the next goes on from there.
			var err error
			for range 5 {
				if err = del(); err == nil {
					break
				}
			}
			if err != nil {
				tb.Errorf("empty namespace %s of its %s: %v", name, kind, err)
			}
		}
	})
}
