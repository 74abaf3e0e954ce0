// Package images builds the container images of the services, and of the
// test node's own programs, without a container daemon: a static Go binary
// in one layer on an empty base, running as a non-root user, with every
// timestamp taken from the git commit so that two builds of one commit give
// the same digest.
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

// NodeImages are the images of the test node's own programs (testkit/cmd),
// which it has no registry to pull: its containerd's sandbox image and the
// workload that charts/examples/demo-receive runs.
var NodeImages = []string{"pause", "receiver"}

// Spec is what one image is built from.
type Spec struct {
	// Name names the image (<repo>/<Name>), its tarball (<Name>.tar) and
	// its org.opencontainers.image.title.
	Name string
	// Binary is the program's file name in the image, /<Binary>, its
	// entrypoint.
	Binary string
	// Main is the main package's directory under the repository root,
	// slash-separated. It is built in the module that holds it.
	Main string
}

// Lookup returns the Spec of the image called name, one of Services or
// NodeImages.
func Lookup(name string) (Spec, error) {
	switch {
	case slices.Contains(Services, name):
		return Spec{Name: name, Binary: name, Main: "services/" + name + "/cmd/" + name}, nil
	case slices.Contains(NodeImages, name):
		return Spec{Name: name, Binary: "sdp-" + name, Main: "testkit/cmd/sdp-" + name}, nil
	}
	return Spec{}, fmt.Errorf("unknown image %q (one of %s)", name, strings.Join(Names(), ", "))
}

// Names are the names of every image there is: Services, then NodeImages.
func Names() []string {
	return slices.Concat(Services, NodeImages)
}

// CheckService returns an error unless service is one of Services.
func CheckService(service string) error {
	if !slices.Contains(Services, service) {
		return fmt.Errorf("unknown service %q (one of %s)", service, strings.Join(Services, ", "))
	}
	return nil
}

// MainDir is the directory of an image's main package.
func MainDir(root string, spec Spec) string {
	return filepath.Join(root, filepath.FromSlash(spec.Main))
}

// DefaultPlatform is linux on this machine's architecture.
func DefaultPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Options say what to build.
type Options struct {
	// Root is the repository root.
	Root string
	// Name is the image's name, one of Names().
	Name string
	// Source is the commit being built (GitSource).
	Source Source
	// Platform is the image's platform; zero means DefaultPlatform.
	Platform v1.Platform
	// WorkDir keeps the compiled binary; a temporary directory, removed
	// afterwards, when empty.
	WorkDir string
}

// Build compiles the image's program and returns the image.
func Build(ctx context.Context, o Options) (v1.Image, error) {
	spec, err := Lookup(o.Name)
	if err != nil {
		return nil, err
	}
	if o.Platform.OS == "" {
		o.Platform = DefaultPlatform()
	}
	dir := o.WorkDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "sdp-image-")
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", o.Name, err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	bin := filepath.Join(dir, spec.Binary)
	if err := BuildBinary(ctx, o.Root, spec, o.Platform, bin); err != nil {
		return nil, err
	}
	return Image(bin, spec, o.Source, o.Platform)
}

// BuildBinary compiles an image's main package for plat into out: static
// (no cgo), stripped, with neither a build id nor local paths in it.
//
// It builds in the package's own module (GOWORK=off), as its go.mod pins
// it and as a release would, and because only outside a workspace does the
// Go toolchain stamp the binary with the commit (vcs.revision), which is
// the version a service reports (-buildvcs=auto overrides a
// -buildvcs=false set for the machine). GOFLAGS is cleared so that a
// developer's settings do not change what is built.
func BuildBinary(ctx context.Context, root string, spec Spec, plat v1.Platform, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=auto", "-mod=readonly", "-ldflags=-s -w -buildid=", "-o", out, ".")
	cmd.Dir = MainDir(root, spec)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=",
		"GOOS="+plat.OS, "GOARCH="+plat.Architecture)
	if plat.Architecture == "arm" && plat.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(plat.Variant, "v"))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %w\n%s", spec.Main, plat.String(), err, b)
	}
	return nil
}
