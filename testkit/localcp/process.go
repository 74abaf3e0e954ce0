//go:build unix

package localcp

import (
	"errors"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
)

var errStopped = errors.New("control plane stopped")

// start starts a component, its output appended to logPath after a header
// line, so that a restart's output is told apart.
func start(name, bin string, args []string, env []string, logPath string) (*proc.Process, error) {
	return proc.Start(proc.Options{Name: name, Bin: bin, Args: args, Env: env, LogPath: logPath, Header: true})
}
