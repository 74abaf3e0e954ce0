package service

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// readyz answers the runtime's /readyz as a probe would.
func readyz(rt *Runtime) (int, string) {
	rec := httptest.NewRecorder()
	rt.Health.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	return rec.Code, rec.Body.String()
}

// TestCredentialsWithEtcdAway: with a user set and etcd away the runtime
// starts, says the config DB is not reachable, and becomes ready once etcd
// comes; credentials etcd refuses end Run with an error saying so.
func TestCredentialsWithEtcdAway(t *testing.T) {
	srv := etcdserver.Start(t)
	srv.EnableAuth(t, "root", "s3cret")
	tests := []struct {
		name      string
		password  string
		etcdAway  bool
		wantError string // "" becomes ready
	}{
		{"etcd away, then comes", "s3cret", true, ""},
		{"etcd there", "s3cret", false, ""},
		{"wrong password", "wrong", false, "refused the credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SDP_CONFIG_HOST", "127.0.0.1")
			t.Setenv("SDP_CONFIG_PORT", fmt.Sprint(srv.Port))
			t.Setenv("SDP_CONFIG_USERNAME", "root")
			t.Setenv("SDP_CONFIG_PASSWORD", tt.password)
			if tt.etcdAway {
				srv.Stop()
			}
			rt, err := Start("test", Options{HTTPAddr: "127.0.0.1:0", LeaderElect: false})
			if err != nil {
				t.Fatalf("start with etcd away: %v", err)
			}
			defer rt.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			led := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- rt.run(ctx, func(*Runtime) (func(context.Context) error, error) {
					return func(ctx context.Context) error { close(led); <-ctx.Done(); return nil }, nil
				})
			}()
			if tt.etcdAway {
				eventually.Eventually(t, 30*time.Second, func() error {
					if code, body := readyz(rt); code != 503 || !strings.Contains(body, "config DB not reachable") {
						return fmt.Errorf("/readyz %d %q, want 503 saying the config DB is not reachable", code, body)
					}
					return nil
				})
				srv.Restart()
			}
			if tt.wantError != "" {
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), tt.wantError) {
						t.Errorf("run: %v, want an error saying %q", err, tt.wantError)
					}
				case <-time.After(60 * time.Second):
					t.Fatal("run did not end on refused credentials")
				}
				return
			}
			select {
			case <-led:
			case err := <-done:
				t.Fatalf("run ended: %v", err)
			case <-time.After(60 * time.Second):
				t.Fatal("never led after etcd came")
			}
			eventually.Eventually(t, 30*time.Second, func() error {
				if code, body := readyz(rt); code != 200 {
					return fmt.Errorf("/readyz %d %q after etcd came, want 200", code, body)
				}
				return nil
			})
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run after cancel: %v", err)
			}
		})
	}
}
