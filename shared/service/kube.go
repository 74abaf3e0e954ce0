package service

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
)

// MainKube is Main for a service that talks to Kubernetes: it adds the
// client flags (--kubeconfig, --kube-qps, --kube-burst) and hands newApp
// the REST configuration they name.
func MainKube(name string, bind func(fs *flag.FlagSet), newApp func(rt *Runtime, cfg *rest.Config) (func(ctx context.Context) error, error)) {
	var kubeOpts kube.Options
	Main(name, func(fs *flag.FlagSet) {
		kubeOpts.Bind(fs)
		if bind != nil {
			bind(fs)
		}
	}, func(rt *Runtime) (func(ctx context.Context) error, error) {
		cfg, err := kubeOpts.RESTConfig()
		if err != nil {
			return nil, err
		}
		cfg.UserAgent = kube.UserAgent(rt.Name, version(), rt.opts.Identity)
		hc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, fmt.Errorf("kubernetes client: %w", err)
		}
		// /readyz is readable by every client (system:public-info-viewer),
		// so the probe needs no right the charts do not grant.
		readyz := strings.TrimSuffix(cfg.Host, "/") + "/readyz"
		rt.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: MetricsNamespace, Name: "kube_api_up",
			Help: "Whether the Kubernetes API server answered /readyz at scrape time (1) or not (0).",
		}, func() float64 { return probe(func(ctx context.Context) error { return getOK(ctx, hc, readyz) }) }))
		return newApp(rt, cfg)
	})
}

// getOK is nil when url answers 200 to a GET.
func getOK(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
