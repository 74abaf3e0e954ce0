package monitor

import (
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// newRecovery has the deployments whose write failed while the config DB
// was away written as soon as it answers again, rather than when their
// backoff (up to a minute) ends.
func newRecovery(q controller.Queue, cfg Config) *controller.Recovery {
	rec := controller.NewRecovery(q, cfg.Log, func(err error) (controller.Dependency, bool) {
		return controller.ConfigDB, configdb.IsUnavailable(err)
	})
	if cfg.Store != nil {
		rec.Probe(controller.ConfigDB, cfg.Store.Ping)
	}
	return rec
}
