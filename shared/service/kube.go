package service

import (
	"context"
	"flag"

	"github.com/prometheus/client_golang/prometheus"
	// Images are built from scratch and carry no CA bundle: every service
	// binary brings Mozilla's roots, used only when the system has none, so
	// that HTTPS (chart repositories, OCI registries, the API server) works.
	_ "golang.org/x/crypto/x509roots/fallback"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
)

// MainKube is Main for a service that talks to Kubernetes: it binds the
// service's options (O, through *O's Bind) beside the client flags
// (--kubeconfig, --kube-qps, --kube-burst, --kube-timeout) and hands newApp
// the parsed options and the REST configuration the flags name. A
// service's main is then one call: service.MainKube("name", app.New).
func MainKube[O any, P interface {
	*O
	Bind(fs *flag.FlagSet)
}](name string, newApp func(rt *Runtime, cfg *rest.Config, opts O) (func(ctx context.Context) error, error)) {
	var opts O
	var kubeOpts kube.Options
	Main(name, func(fs *flag.FlagSet) {
		kubeOpts.Bind(fs)
		P(&opts).Bind(fs)
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
		return newApp(rt, cfg, opts)
	})
}
