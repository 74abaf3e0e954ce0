// Package images builds the container image of one service without a
// container daemon: a static Go binary in one layer on an empty base,
// running as a non-root user, with every timestamp taken from the git
// commit so that two builds of one commit give the same digest.
//
// `make images` (through cmd/sdp-image) and skaffold's custom builder both
// build through this package, so the images they make are the same.
package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Services are the services that have an image, in the order they are built.
var Services = []string{"release-manager", "pod-monitor", "resource-monitor"}

// CheckService returns an error unless service is one of Services.
func CheckService(service string) error {
	if !slices.Contains(Services, service) {
		return fmt.Errorf("unknown service %q (one of %s)", service, strings.Join(Services, ", "))
	}
	return nil
}

// MainDir is the directory of a service's main package under the
// repository root.
func MainDir(root, service string) string {
	return filepath.Join(root, "services", service, "cmd", service)
}

// DefaultPlatform is linux on this machine's architecture.
func DefaultPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Options say what to build.
type Options struct {
	// Root is the repository root.
	Root string
	// Service is one of Services.
	Service string
	// Source is the commit being built (GitSource).
	Source Source
	// Platform is the image's platform; zero means DefaultPlatform.
	Platform v1.Platform
	// WorkDir keeps the compiled binary; a temporary directory, removed
	// afterwards, when empty.
	WorkDir string
}

// Build compiles the service and returns its image.
func Build(ctx context.Context, o Options) (v1.Image, error) {
	if err := CheckService(o.Service); err != nil {
		return nil, err
	}
	if o.Platform.OS == "" {
		o.Platform = DefaultPlatform()
	}
	dir := o.WorkDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "sdp-image-")
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", o.Service, err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	bin := filepath.Join(dir, o.Service)
	if err := BuildBinary(ctx, o.Root, o.Service, o.Platform, bin); err != nil {
		return nil, err
	}
	return Image(bin, o.Service, o.Source, o.Platform)
}

// BuildBinary compiles a service's main package for plat into out: static
// (no cgo), stripped, with neither a build id nor local paths in it.
//
// It builds in the service's own module (GOWORK=off), as its go.mod pins
// it and as a release would, and because only outside a workspace does the
// Go toolchain stamp the binary with the commit (vcs.revision), which is
// the version the service reports (-buildvcs=auto overrides a
// -buildvcs=false set for the machine). GOFLAGS is cleared so that a
// developer's settings do not change what is built.
func BuildBinary(ctx context.Context, root, service string, plat v1.Platform, out string) error {
	if err := CheckService(service); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=auto", "-mod=readonly", "-ldflags=-s -w -buildid=", "-o", out, ".")
	cmd.Dir = MainDir(root, service)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=",
		"GOOS="+plat.OS, "GOARCH="+plat.Architecture)
	if plat.Architecture == "arm" && plat.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(plat.Variant, "v"))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %w\n%s", service, plat.String(), err, b)
	}
	return nil
}
