package helmexec

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	"helm.sh/helm/v3/pkg/kube"
	"k8s.io/client-go/rest"
)

// Helm's kube.Client.Update reads every object of the release up to three
// times within a few milliseconds: a GET to see whether it exists, a second
// in createPatch for the three-way merge, and for an object the upgrade does
// not change a third to refresh it. Half the API calls of an upgrade
// (docs/benchmarks/release-manager.md) said nothing the first had not.
//
// readOnce answers a GET of an object repeated within one Update from the
// first answer, as if the later reads had come a few milliseconds earlier:
// Helm's patch carries no resourceVersion, so a change by someone else
// between a read and the patch is already possible and already ends the same
// way. Only while an Update runs: a wait (WaitForDelete polls the same GET
// until it says 404) must see the server. A write to an object drops what
// was read of it; only 200 answers are kept, and never a watch.
type readOnce struct {
	mu     sync.Mutex
	active bool
	// got holds the answers by object path, then by query and Accept.
	got map[string]map[string]*readAnswer
}

type readAnswer struct {
	status int
	proto  string
	header http.Header
	body   []byte
}

// during runs f with repeated reads answered once, and forgets them after.
func (o *readOnce) during(f func()) {
	o.mu.Lock()
	o.active, o.got = true, map[string]map[string]*readAnswer{}
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.active, o.got = false, nil
		o.mu.Unlock()
	}()
	f()
}

func (o *readOnce) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Method != http.MethodGet {
			o.forget(req)
			return next.RoundTrip(req)
		}
		q := req.URL.Query()
		if q.Get("watch") == "true" || q.Get("watch") == "1" {
			return next.RoundTrip(req)
		}
		path, key := req.URL.Path, req.URL.RawQuery+" "+req.Header.Get("Accept")
		o.mu.Lock()
		active, a := o.active, o.got[path][key]
		o.mu.Unlock()
		if !active {
			return next.RoundTrip(req)
		}
		if a != nil {
			return a.response(req), nil
		}
		resp, err := next.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		a = &readAnswer{status: resp.StatusCode, proto: resp.Proto, header: resp.Header.Clone(), body: body}
		o.mu.Lock()
		if o.active {
			if o.got[path] == nil {
				o.got[path] = map[string]*readAnswer{}
			}
			o.got[path][key] = a
		}
		o.mu.Unlock()
		return a.response(req), nil
	})
}

// forget drops what was read of the object a write goes to.
func (o *readOnce) forget(req *http.Request) {
	o.mu.Lock()
	delete(o.got, req.URL.Path)
	o.mu.Unlock()
}

func (a *readAnswer) response(req *http.Request) *http.Response {
	return &http.Response{
		Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)), StatusCode: a.status, Proto: a.proto,
		Header: a.header.Clone(), Body: io.NopCloser(bytes.NewReader(a.body)),
		ContentLength: int64(len(a.body)), Request: req,
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// actionGetter is the shared getter (discovery, REST mapper) with one
// action's readOnce on its transport.
type actionGetter struct {
	*restGetter
	reads *readOnce
}

func (g *actionGetter) ToRESTConfig() (*rest.Config, error) {
	cfg := rest.CopyConfig(g.config)
	cfg.Wrap(g.reads.wrap)
	return cfg, nil
}

// readsOnceClient is one action's Kubernetes client whose Update reads each
// object once.
type readsOnceClient struct {
	*kubeClient
	reads *readOnce
}

func (c *readsOnceClient) Update(original, target kube.ResourceList, force bool) (res *kube.Result, err error) {
	c.reads.during(func() { res, err = c.kubeClient.Update(original, target, force) })
	return res, err
}

func (c *readsOnceClient) UpdateThreeWayMerge(original, target kube.ResourceList, force bool) (res *kube.Result, err error) {
	c.reads.during(func() { res, err = c.kubeClient.UpdateThreeWayMerge(original, target, force) })
	return res, err
}
