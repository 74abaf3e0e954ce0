package main

import (
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/servicetest"
)

func TestLifecycle(t *testing.T) {
	servicetest.CheckLifecycle(t, ".", "pod-monitor")
}
