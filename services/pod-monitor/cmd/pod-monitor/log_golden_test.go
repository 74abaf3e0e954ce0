package main

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/logging"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// The pod-monitor's log lines, in the SKA format (its default) and in JSON, as its logger
// writes them: lines of the kinds it logs, with values that must not break a line.
func TestLogGolden(t *testing.T) {
	servicetest.CheckLogGolden(t, logging.ForService, "pod-monitor", func(log *slog.Logger) {
		log.Info("deployments listed", "reason", "start", "helm_deployments", 3)
		log.Debug("pods written", "deployment", "proc-pb-1-receive", "pods", 2)
		log.Debug("pod ignored: not of a deployment", "pod", "etcd-0", "reason", "no release label")
		log.Warn("pod ignored: its release label names no valid deployment id", "pod", "x|y", "reason", "label \"a b\"")
		log.Warn("state entry unreadable; not overwriting it", "deployment", "proc-pb-2", "error", errors.New("invalid character '\\n' in string literal"))
		log.Info("orphan state entry removed", "deployment", "proc-pb-3")
		log.Error("failed", "error", errors.New("watch /deploy/:\ncompacted"))
	})
}
