//go:build unix && !linux

package demo

import (
	"context"
	"errors"
)

// RunCluster needs Linux: its real nodes live in network, mount and PID
// namespaces of their own.
func RunCluster(context.Context, Options) error {
	return errors.New("run-cluster needs Linux (the real nodes are made of Linux namespaces)")
}
