//go:build unix && !linux

package localcp

import (
	"context"
	"errors"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
)

// Real nodes are made of Linux namespaces (node.go); elsewhere Start
// refuses them and the rest of the control plane runs as before.

// RealNode is a running real node (Linux only).
type RealNode struct {
	Name string
	init *proc.Process
}

var errNeedsLinux = errors.New("localcp: real nodes need Linux")

func checkNodePackages() error { return errNeedsLinux }

func buildNodeHelpers(context.Context, string) error { return errNeedsLinux }

func (cp *ControlPlane) startRealNode(context.Context, int, string, string, *pki, kubernetes.Interface) (*RealNode, error) {
	return nil, errNeedsLinux
}

func (n *RealNode) stop(time.Duration) error { return nil }
