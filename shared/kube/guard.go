package kube

import (
	"fmt"
	"net/http"

	"k8s.io/client-go/rest"
)

// UserAgent is the user agent of a service's Kubernetes requests,
// "<service>/<version> (<identity>)": the API server's audit log then says
// which replica sent each request.
func UserAgent(service, version, identity string) string {
	return fmt.Sprintf("%s/%s (%s)", service, version, identity)
}

// GuardWrites makes every request that changes something (POST, PUT,
// PATCH, DELETE) of the clients built from cfg call check just before it
// is sent, and fail unsent with check's error when there is one. Reads go
// through unchecked. check runs once per request, so it must not make a
// round trip of its own.
func GuardWrites(cfg *rest.Config, check func() error) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &guardedWrites{next: rt, check: check} })
}

type guardedWrites struct {
	next  http.RoundTripper
	check func() error
}

func (g *guardedWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		if err := g.check(); err != nil {
			// A RoundTripper closes the body even when it sends nothing.
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, fmt.Errorf("%s %s refused: %w", req.Method, req.URL.Path, err)
		}
	}
	return g.next.RoundTrip(req)
}

// WrappedRoundTripper lets client-go see through the wrapper (to cancel
// requests, to find the TLS settings).
func (g *guardedWrites) WrappedRoundTripper() http.RoundTripper { return g.next }
