package main

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/logging"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
)

// The resource-monitor's log lines, in the SKA format (its default) and in JSON, as its logger
// writes them: lines of the kinds it logs, with values that must not break a line.
func TestLogGolden(t *testing.T) {
	servicetest.CheckLogGolden(t, logging.ForService, "resource-monitor", func(log *slog.Logger) {
		log.Info("mirroring NetworkAttachmentDefinitions into /resource/", "selector", "sdp.skao.int/mirror=true")
		log.Info("resource entries in sync", "nads", 2, "supernets", 1, "nads_rejected", 0)
		log.Info("resource entry written", "entry", "nad:sdp:macvlan")
		log.Warn("NAD config unusable; the NAD gets no resource entry", "namespace", "sdp", "nad", "bad",
			"error", errors.New("parse config: invalid character '|' looking for beginning of value\n{|"))
		log.Warn("supernet has no covering CIDR; it gets no resource entry, its members keep theirs", "supernet", "a b", "error", errors.New("no CIDR"))
		log.Info("resource entry removed", "entry", "nad:sdp:old")
		log.Error("failed", "error", errors.New("context canceled"))
	})
}
