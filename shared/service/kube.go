package service

import (
	"context"
	"flag"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
)

// MainKube is Main for a service that talks to Kubernetes: it adds the
// client flags (--kubeconfig, --kube-qps, --kube-burst, --kube-timeout) and
// hands newApp the REST configuration they name.
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
		readyz, err := kube.Readyz(cfg)
		if err != nil {
			return nil, err
		}
		rt.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: MetricsNamespace, Name: "kube_api_up",
			Help: "Whether the Kubernetes API server answered /readyz at scrape time (1) or not (0).",
		}, func() float64 { return probe(readyz) }))
		return newApp(rt, cfg)
	})
}
