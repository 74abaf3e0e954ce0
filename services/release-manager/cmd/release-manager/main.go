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
	"github.com/ska-telescope/sdp-helmdeploy/services/release-manager/internal/app"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

func main() { service.MainKube("release-manager", app.New) }
