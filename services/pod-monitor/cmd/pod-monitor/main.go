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
	"github.com/ska-telescope/sdp-helmdeploy/services/pod-monitor/internal/app"
	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

func main() { service.MainKube("pod-monitor", app.New) }
