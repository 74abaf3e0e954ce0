package kube_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
	"github.com/ska-telescope/sdp-helmdeploy/shared/leader"
)

// A guarded client sends reads always and writes only while the check
// allows them; a refused write never reaches the server and its error
// says why.
func TestGuardWrites(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.UserAgent())
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	// Before any term, the guard refuses; leader.Guard is what the
	// release-manager passes.
	guard := leader.NewGuard(nil)
	cfg := &rest.Config{Host: srv.URL, UserAgent: kube.UserAgent("release-manager", "abc123", "host-42")}
	kube.GuardWrites(cfg, func() error { return guard.CheckWrite() })
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method  string
		enter   bool // a term (none: election off) was entered
		refused bool
	}{
		{method: http.MethodGet},
		{method: http.MethodHead},
		{method: http.MethodPost, refused: true},
		{method: http.MethodPut, refused: true},
		{method: http.MethodPatch, refused: true},
		{method: http.MethodDelete, refused: true},
		{method: http.MethodPost, enter: true},
		{method: http.MethodDelete, enter: true},
	}
	for _, tt := range tests {
		name := tt.method
		if tt.enter {
			name += " in a term"
		}
		t.Run(name, func(t *testing.T) {
			g := leader.NewGuard(nil)
			if tt.enter {
				g.Enter(nil)
			}
			guard = g
			mu.Lock()
			seen = nil
			mu.Unlock()
			req, err := http.NewRequest(tt.method, srv.URL+"/api/v1/namespaces/ns/secrets", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			got := seen
			mu.Unlock()
			if tt.refused {
				if !errors.Is(err, leader.ErrNotLeader) {
					t.Errorf("%s = %v, want a refusal wrapping ErrNotLeader", tt.method, err)
				}
				if len(got) != 0 {
					t.Errorf("refused %s reached the server: %v", tt.method, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.method, err)
			}
			if want := tt.method + " release-manager/abc123 (host-42)"; len(got) != 1 || got[0] != want {
				t.Errorf("server saw %q, want %q", got, want)
			}
		})
	}
}
