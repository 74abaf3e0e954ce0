package service

import (
	"context"
	"flag"

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
		return newApp(rt, cfg)
	})
}
