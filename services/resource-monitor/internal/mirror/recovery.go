package mirror

import (
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/shared/controller"
)

// newRecovery has a reconcile that failed while the config DB was away
// (or did not answer within the timeout) run again as soon as it answers,
// rather than when its backoff (up to 30 s) ends.
func newRecovery(q controller.Queue, cfg Config) *controller.Recovery {
	rec := controller.NewRecovery(q, cfg.Log, func(err error) (controller.Dependency, bool) {
		return controller.ConfigDB, configdb.IsUnavailable(err)
	})
	if cfg.Store != nil {
		rec.Probe(controller.ConfigDB, cfg.Store.Ping)
	}
	return rec
}
