// Command resource-monitor mirrors allocatable NetworkAttachmentDefinitions
// into /resource/ entries of the config DB: one per NAD labelled
// sdp.skao.int/available-for-allocation=true, one per supernet.
//
// It reads the SDP_* environment (see the configdb package), serves
// /metrics, /healthz and /readyz, and acts only while it holds the
// leadership elected through etcd.
package main

import (
	"context"
	"flag"

	"k8s.io/klog/v2"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/app"
	"github.com/ska-telescope/sdp-helmdeploy/shared/kube"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

func main() {
	var (
		kubeOpts kube.Options
		appOpts  app.Options
	)
	service.Main("resource-monitor", func(fs *flag.FlagSet) {
		kubeOpts.Bind(fs)
		appOpts.Bind(fs)
	}, func(rt *service.Runtime) (func(ctx context.Context) error, error) {
		// client-go logs through klog, which is global to the process: set
		// here, once, so that every line is JSON in the service's logger.
		klog.SetSlogLogger(rt.Log.With("component", "client-go"))
		cfg, err := kubeOpts.RESTConfig()
		if err != nil {
			return nil, err
		}
		return app.New(rt, cfg, appOpts)
	})
}
