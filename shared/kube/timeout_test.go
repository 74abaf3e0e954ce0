package kube

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/hungserver"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
)

func TestMain(m *testing.M) { os.Exit(cptest.Main(m, localcp.Options{})) }

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: t}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`

func TestRESTConfigTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, DefaultTimeout},
		{[]string{"--kube-timeout=7s"}, 7 * time.Second},
		{[]string{"--kube-timeout=0"}, 0},
	} {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			var o Options
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			o.Bind(fs)
			if err := fs.Parse(append([]string{"--kubeconfig=" + path}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			cfg, err := o.RESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Timeout != tc.want {
				t.Errorf("Timeout = %v, want %v", cfg.Timeout, tc.want)
			}
			w := ForWatches(cfg)
			if w.Timeout != 0 || cfg.Timeout != tc.want || w.Host != cfg.Host {
				t.Errorf("ForWatches: timeout %v (want 0), host %q; original's timeout now %v", w.Timeout, w.Host, cfg.Timeout)
			}
		})
	}
}

// A request to an API server that never answers returns after the
// timeout, with an error that says so; a check without a deadline of its
// own is bounded by it too.
func TestHungServerTimesOut(t *testing.T) {
	cfg := &rest.Config{Host: "http://" + hungserver.Start(t), Timeout: 300 * time.Millisecond}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := cs.CoreV1().ConfigMaps("x").Get(context.Background(), "y", metav1.GetOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		if !IsTimeout(err) {
			t.Errorf("error %v: IsTimeout false", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("request to a hung API server still waiting after 20 s, with a 300 ms timeout")
	}
	readyz, err := Readyz(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := readyz(context.Background()); !IsTimeout(err) {
		t.Errorf("readyz of a hung server: %v, want a timeout", err)
	}
}

func TestIsTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("x"), false},
		{"refused", fmt.Errorf("get: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), false},
	} {
		if got := IsTimeout(tc.err); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Against a real API server: the request timeout cuts a watch made with
// it (which is why informers must not use it), while a watch made through
// ForWatches outlives it and still delivers events.
func TestWatchesOutliveTheTimeout(t *testing.T) {
	cp := cptest.Get(t)
	cfg := cp.RESTConfig()
	cfg.Timeout = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := kubernetes.NewForConfig(ForWatches(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ns := "kube-timeout"
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	watchWith := func(cfg *rest.Config) watch.Interface {
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w, err := cs.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		return w
	}
	cut, kept := watchWith(cfg), watchWith(ForWatches(cfg))

	// The watch under the timeout ends within a few of its seconds.
	select {
	case _, open := <-cut.ResultChan():
		if open {
			t.Fatal("event on an empty namespace")
		}
	case <-time.After(15 * time.Second):
		t.Error("a watch made with a 1 s request timeout still open after 15 s; the timeout no longer cuts watches, so ForWatches is not needed")
	}
	// By now the other one is well past the timeout; it still delivers.
	if _, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, open := <-kept.ResultChan():
		if !open {
			t.Fatal("the watch made through ForWatches ended")
		}
		if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || cm.Name != "after" || ev.Type != watch.Added {
			t.Errorf("event %s %T, want the ConfigMap added", ev.Type, ev.Object)
		}
	case <-time.After(15 * time.Second):
		t.Error("no event on the watch made through ForWatches")
	}
}
