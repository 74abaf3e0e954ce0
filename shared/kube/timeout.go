package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// DefaultTimeout bounds one Kubernetes API request: without a bound, an API
// server that accepts a connection and never answers holds the worker that
// asked for ever. It is long against any answer a healthy server gives
// (its own default for a request is 60 s, mostly for large lists and
// admission webhooks), and short against an outage.
const DefaultTimeout = 30 * time.Second

// ForWatches returns a copy of cfg without the request timeout, for
// informers. rest.Config.Timeout becomes the http.Client's timeout, which
// covers reading the whole response: it would cut every watch stream after
// that long, while the reflector asks the API server for watches of 5 to 10
// minutes and notices a dead one by itself.
//
// Its reads also wait out an API server that refuses connections (stopped,
// restarting), trying again every redialEvery until it answers or the
// request's context ends, rather than failing back to the informer: a
// reflector's backoff after failed lists grows to 30-60 s over an outage
// of half a minute, and its cache would stay stale that long after the API
// server is back.
func ForWatches(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Timeout = 0
	c.Wrap(func(next http.RoundTripper) http.RoundTripper { return &redial{next: next, every: redialEvery} })
	return c
}

const redialEvery = 500 * time.Millisecond

// redial sends a GET again while connecting to the server is refused. A
// refused connection never reached the server, so sending again is safe.
type redial struct {
	next  http.RoundTripper
	every time.Duration
}

func (r *redial) RoundTrip(req *http.Request) (*http.Response, error) {
	for {
		resp, err := r.next.RoundTrip(req)
		var opErr *net.OpError
		if err == nil || req.Method != http.MethodGet || !errors.As(err, &opErr) || opErr.Op != "dial" {
			return resp, err
		}
		select {
		case <-req.Context().Done():
			return nil, err
		case <-time.After(r.every):
		}
	}
}

func (r *redial) WrappedRoundTripper() http.RoundTripper { return r.next }

// IsTimeout reports whether err is a request that ran out of the request
// timeout (or another deadline) before the API server answered.
func IsTimeout(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) && ue.Timeout()
}

// Readyz returns a check that is nil when the API server answers /readyz
// with 200. /readyz is readable by every client
// (system:public-info-viewer), so the check needs no right the charts do
// not grant.
func Readyz(cfg *rest.Config) (func(ctx context.Context) error, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	u := strings.TrimSuffix(cfg.Host, "/") + "/readyz"
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		return nil
	}, nil
}
