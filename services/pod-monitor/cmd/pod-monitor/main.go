// Command pod-monitor reports the pods of each deployment into the "pods"
// part of its state entry in the config DB.
//
// It reads the SDP_* environment (see the configdb package), serves
// /metrics, /healthz and /readyz, and acts only while it holds the
// leadership elected through etcd.
//
// It is wiring only: options, then service.Main with the app's
// constructor; docs/architecture.md, §1. The rooms.
package main

import (
	"context"

	// Images are built from scratch and carry no CA bundle: the binary
	// brings Mozilla's roots, used only when the system has none, so that
	// HTTPS (chart repositories, OCI registries, the API server) works.
	_ "golang.org/x/crypto/x509roots/fallback"
	"k8s.io/client-go/rest"

	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/app"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

func main() {
	var opts app.Options
	service.MainKube("pod-monitor", opts.Bind, func(rt *service.Runtime, cfg *rest.Config) (func(ctx context.Context) error, error) {
		return app.New(rt, cfg, opts)
	})
}
