package podcache

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

// Against a real API server: the request timeout cuts a watch made with it
// (rest.Config.Timeout is the http.Client's, over the whole response),
// while the pod cache's watch, made through kube.ForWatches, outlives it
// and still delivers events.
func TestWatchOutlivesRequestTimeout(t *testing.T) {
	cfg := cptest.Get(t).RESTConfig()
	cfg.Timeout = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := kubernetes.NewForConfig(kube.ForWatches(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ns := "watch-timeout"
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	timed, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := timed.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Stop()
	lw, err := ListWatch(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := lw.(cache.ListerWatcherWithContext).WatchWithContext(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Stop()

	select {
	case _, open := <-cut.ResultChan():
		if open {
			t.Fatal("event on an empty namespace")
		}
	case <-time.After(15 * time.Second):
		t.Error("a watch made with a 1 s request timeout still open after 15 s: the timeout no longer cuts watches, so kube.ForWatches is not needed")
	}
	// By now the pod cache's watch is past the timeout; it still delivers.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "after"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	if _, err := admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, open := <-kept.ResultChan():
		if !open {
			t.Fatal("the pod cache's watch ended")
		}
		if p, ok := ev.Object.(*corev1.Pod); !ok || p.Name != "after" || ev.Type != watch.Added {
			t.Errorf("event %s %T, want the pod added", ev.Type, ev.Object)
		}
	case <-time.After(15 * time.Second):
		t.Error("no event on the pod cache's watch")
	}
}
