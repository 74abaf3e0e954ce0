// Command pod-monitor reports the pods of each deployment into the "pods"
// part of its state entry in the config DB.
//
// It reads the SDP_* environment (see the configdb package), serves
// /metrics, /healthz and /readyz, and acts only while it holds the
// leadership elected through etcd.
package main

import (
	"context"
	"flag"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/app"
	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

func main() {
	var (
		kubeOpts kube.Options
		appOpts  app.Options
	)
	service.Main("pod-monitor", func(fs *flag.FlagSet) {
		kubeOpts.Bind(fs)
		appOpts.Bind(fs)
	}, func(rt *service.Runtime) (func(ctx context.Context) error, error) {
		cfg, err := kubeOpts.RESTConfig()
		if err != nil {
			return nil, err
		}
		return app.New(rt, cfg, appOpts)
	})
}
