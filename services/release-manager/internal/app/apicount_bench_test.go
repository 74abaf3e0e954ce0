// Counting the Kubernetes API requests of a benchmark by verb.

package app

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// startCounting runs a release-manager as start does, every API call it
// makes counted by calls.
func (e *testEnv) startCounting(calls *apiCounter) (stop func()) {
	e.t.Helper()
	return e.startKubeWith(calls.wrap)
}

// warmEnv is a benchmark's environment: a release-manager serving
// benchChart, its API calls counted by calls, with one release deployed
// first so that the figures are the steady rate.
func warmEnv(b *testing.B, calls *apiCounter) (e *testEnv, stop func()) {
	e = newEnv(b)
	e.repo.Add(benchChart)
	stop = e.startCounting(calls)
	e.put("warm", entry("warm", "bench", "{}"))
	e.waitState("warm", "warm-up", deployedAt(1))
	return e, stop
}

// apiCounter counts Kubernetes API calls by verb while resumed: the
// per-release cost of a method, set beside the floor's.
type apiCounter struct {
	mu     sync.Mutex
	on     bool
	byVerb map[string]int
}

// apiVerbs are the verbs reported, in order; a verb with no call is
// reported as 0, so that every run has the same units.
var apiVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "discovery"}

func (c *apiCounter) wrap(cfg *rest.Config) {
	cfg.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			c.count(apiVerb(req.Method, req.URL))
			return next.RoundTrip(req)
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

func (c *apiCounter) count(verb string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return
	}
	if c.byVerb == nil {
		c.byVerb = map[string]int{}
	}
	c.byVerb[verb]++
}

func (c *apiCounter) resume() { c.mu.Lock(); c.on = true; c.mu.Unlock() }
func (c *apiCounter) pause()  { c.mu.Lock(); c.on = false; c.mu.Unlock() }

// report adds "<verb>-calls/rel" for each verb and "api-calls/rel".
func (c *apiCounter) report(b *testing.B, releases int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, v := range apiVerbs {
		total += c.byVerb[v]
		b.ReportMetric(float64(c.byVerb[v])/float64(releases), v+"-calls/rel")
	}
	b.ReportMetric(float64(total)/float64(releases), "api-calls/rel")
}

// apiVerb names a request as the API server's audit log would: a GET of
// one object is get, of a collection list, with watch=true watch; the
// discovery and OpenAPI documents are discovery.
func apiVerb(method string, u *url.URL) string {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	}
	if len(rest) == 0 {
		return "discovery"
	}
	if rest[0] == "namespaces" && len(rest) >= 3 {
		rest = rest[2:]
	}
	collection := len(rest) == 1
	switch method {
	case http.MethodGet:
		switch {
		case u.Query().Get("watch") == "true" || u.Query().Get("watch") == "1":
			return "watch"
		case collection:
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return strings.ToLower(method)
}

func TestAPIVerb(t *testing.T) {
	for _, c := range []struct{ method, url, want string }{
		{"GET", "/api/v1/namespaces/ns/secrets?labelSelector=owner%3Dhelm", "list"},
		{"GET", "/api/v1/namespaces/ns/secrets?watch=true&resourceVersion=1", "watch"},
		{"GET", "/api/v1/namespaces/ns/pods/p", "get"},
		{"GET", "/api/v1/namespaces/ns/pods/p/status", "get"},
		{"GET", "/api/v1/namespaces/ns", "get"},
		{"GET", "/apis/apps/v1/namespaces/ns/deployments", "list"},
		{"GET", "/api", "discovery"},
		{"GET", "/apis/apps/v1", "discovery"},
		{"GET", "/openapi/v3", "discovery"},
		{"GET", "/version", "discovery"},
		{"POST", "/api/v1/namespaces/ns/secrets", "create"},
		{"PUT", "/api/v1/namespaces/ns/secrets/s", "update"},
		{"PATCH", "/api/v1/namespaces/ns/pods/p", "patch"},
		{"DELETE", "/api/v1/namespaces/ns/pods/p", "delete"},
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := apiVerb(c.method, u); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.method, c.url, got, c.want)
		}
	}
}
