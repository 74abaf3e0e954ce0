package main

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/logging"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// The release-manager's log lines, in the SKA format (its default) and in
// JSON, as its logger writes them: lines of the kinds it logs, with values
// that must not break a line.
func TestLogGolden(t *testing.T) {
	servicetest.CheckLogGolden(t, logging.ForService, "release-manager", func(log *slog.Logger) {
		log.Info("starting", "version", "0123456789ab", "config_db", "http://127.0.0.1:2379", "config_prefix", "",
			"namespace", "sdp", "release_prefix", "", "identity", "rm-0")
		log.Debug("helm", "detail", "preparing install for proc-pb-1-receive")
		log.Info("helm action done", "deployment", "proc-pb-1-receive", "release", "proc-pb-1-receive", "action", "install", "duration", "1.2s")
		log.Warn("helm action failed", "deployment", "proc-pb-2", "release", "proc-pb-2", "action", "upgrade",
			"error", errors.New("render chart: template: x|y:3: unexpected \"}\"\nin line 3"))
		log.Warn("deployment entry cannot be deployed", "deployment", "bad id", "error", errors.New(`chart "dask/dask": unknown repository "dask"`))
		log.Error("failed", "error", errors.New("lost leadership"))
		log.Log(t.Context(), logging.LevelCritical, "cannot start", "error", errors.New("SDP_CONFIG_PORT=\"x\": not a port"))
		log.With("component", "client-go").Info("Waiting for caches to sync", "controller", "releases")
	})
}
