package kube

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
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

// A read through ForWatches's config waits out a server that refuses
// connections and gets its answer once the server listens; a write fails
// at once; a read whose context ends stops trying.
func TestForWatchesWaitsOutARefusingServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused from now on
	cfg := ForWatches(&rest.Config{Host: "http://" + addr})
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}

	post, err := http.NewRequest(http.MethodPost, "http://"+addr+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Do(post); err == nil {
		t.Fatal("a POST to a refusing server succeeded")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	get, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Do(get); err == nil {
		t.Fatal("a GET to a refusing server succeeded")
	}

	// The server comes 1 s after the GET is sent.
	go func() {
		time.Sleep(time.Second)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			return
		}
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("back")) }))
	}()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	get2, err := http.NewRequestWithContext(ctx2, http.MethodGet, "http://"+addr+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(get2)
	if err != nil {
		t.Fatalf("GET once the server is back: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "back" {
		t.Errorf("answer %q", body)
	}
}
