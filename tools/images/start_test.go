package images_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/tools/demo"
	"github.com/ska-telescope/sdp-helmdeploy/tools/images"
	"github.com/ska-telescope/sdp-helmdeploy/tools/localcp/cptest"
)

// TestBinaryInImageStarts runs the binary taken out of each image, as the
// container would run it, through the lifecycle test every service binary
// passes (servicetest.CheckBinary): against a real etcd and the local
// control plane's kube-apiserver it answers /healthz, /readyz and /metrics,
// leads, logs JSON and exits 0 on SIGTERM. It runs on this machine, not in a
// container runtime: what it shows is that the static binary the image
// carries is complete and starts, not how a runtime treats the image.
func TestBinaryInImageStarts(t *testing.T) {
	cp := cptest.Get(t)
	// Namespace sdp and the NetworkAttachmentDefinition CRD that
	// resource-monitor watches.
	if err := demo.Apply(context.Background(), cp.RESTConfig(), filepath.Join(repoRoot(t), "deploy"), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	for _, service := range images.Services {
		t.Run(service, func(t *testing.T) {
			bin := extract(t, built(t, service), service)
			servicetest.CheckBinary(t, bin, service, "KUBECONFIG="+cp.KubeconfigPath, "SDP_HELM_NAMESPACE=sdp")
		})
	}
}
