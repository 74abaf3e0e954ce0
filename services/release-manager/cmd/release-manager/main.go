// Command release-manager turns deployment entries in the config DB into
// Helm releases in the processing namespace, and reports each release's
// status into the deployment's state entry.
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

	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/app"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

func main() {
	var opts app.Options
	service.MainKube("release-manager", opts.Bind, func(rt *service.Runtime, cfg *rest.Config) (func(ctx context.Context) error, error) {
		return app.New(rt, cfg, opts)
	})
}
