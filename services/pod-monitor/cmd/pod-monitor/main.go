// Command pod-monitor reports the pods of each deployment into its state entry.
//
// It reads the SDP_* environment (see the configdb package), serves
// /metrics, /healthz and /readyz, and acts only while it holds the
// leadership elected through etcd.
package main

import (
	"context"

	"github.com/ska-telescope/sdp-helmdeploy/shared/service"
)

func main() {
	service.Main("pod-monitor", nil, func(rt *service.Runtime) (func(ctx context.Context) error, error) {
		// The reconciler arrives with its own issue; until then the leader
		// holds its lease and idles.
		return func(ctx context.Context) error {
			rt.Log.Info("leading; no reconciler yet")
			<-ctx.Done()
			return nil
		}, nil
	})
}
