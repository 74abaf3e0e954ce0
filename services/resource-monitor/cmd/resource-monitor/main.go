// Command resource-monitor mirrors allocatable NetworkAttachmentDefinitions
// into /resource/ entries of the config DB: one per NAD labelled
// sdp.skao.int/available-for-allocation=true, one per supernet.
//
// It reads the SDP_* environment (see the configdb package), serves
// /metrics, /healthz and /readyz, and acts only while it holds the
// leadership elected through etcd.
//
// It is wiring only: options, then service.Main with the app's
// constructor; docs/architecture.md, §1. The rooms.
package main

import (
	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/app"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

func main() { service.MainKube("resource-monitor", app.New) }
