package cli

import (
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func TestReasonCell(t *testing.T) {
	code := func(c int32) *int32 { return &c }
	for _, tc := range []struct {
		r    configdb.PodReason
		want string
	}{
		{configdb.PodReason{}, ""},
		{configdb.PodReason{Reason: "Evicted", Message: "The node was low on resource: memory."}, "Evicted"},
		{configdb.PodReason{Reason: "ErrImagePull", Container: "receiver"}, "ErrImagePull (container receiver)"},
		{configdb.PodReason{Reason: "Error", Container: "setup", InitContainer: true, ExitCode: code(1), OtherContainers: 2},
			"Error (init container setup, exit 1, 2 more containers)"},
		{configdb.PodReason{Reason: "CrashLoopBackOff", Container: "w", ExitCode: code(0), ExitReason: "Completed", OtherContainers: 1},
			"CrashLoopBackOff (container w, exit 0 Completed, 1 more container)"},
	} {
		if got := reasonCell(tc.r); got != tc.want {
			t.Errorf("reasonCell(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}
