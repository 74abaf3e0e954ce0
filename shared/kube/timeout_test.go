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

	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/hungserver"
)

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
	// client-go's clients all send through the HTTP client built from the
	// configuration (rest.HTTPClientFor), which is where the timeout lives.
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := hc.Get(cfg.Host + "/api/v1/namespaces/x/configmaps/y")
		if err == nil {
			resp.Body.Close()
		}
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
