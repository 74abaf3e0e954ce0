package images_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ska-telescope/sdp-helmdeploy/tools/images"
)

// TestMakeImages runs `make images` with a registry, as a developer would,
// and checks what it leaves: a docker-loadable tarball per service, the
// OCI layout with all three and the pushed images, each the image this
// package builds for the commit (same digest).
func TestMakeImages(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is needed: %v", err)
	}
	root := repoRoot(t)
	src := source(t)
	out := t.TempDir()
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	repo := strings.TrimPrefix(reg.URL, "http://") + "/sdp"

	cmd := exec.Command("make", "--no-print-directory", "-C", root, "images", "IMAGES_DIR="+out, "REGISTRY="+repo)
	// A make running this test must not hand its jobserver and variables on.
	cmd.Env = withoutEnv(os.Environ(), "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "IMAGE_FLAGS")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make images: %v\n%s", err, b)
	}
	t.Logf("make images:\n%s", b)

	refs := layoutRefs(t, filepath.Join(out, "oci"))
	if len(refs) != len(images.Services) {
		t.Errorf("OCI layout holds %v, want one image per service", refs)
	}
	for _, service := range images.Services {
		want := digest(t, built(t, service))
		tag, err := name.NewTag(repo + "/" + service + ":" + src.Version)
		if err != nil {
			t.Fatal(err)
		}
		fromTar, err := tarball.ImageFromPath(filepath.Join(out, service+".tar"), &tag)
		if err != nil {
			t.Errorf("%s: tarball: %v", service, err)
		} else if got, want := configName(t, fromTar), configName(t, built(t, service)); got != want {
			t.Errorf("%s: tarball image id %s, want %s", service, got, want)
		}
		if got, ok := refs[tag.String()]; !ok || got != want {
			t.Errorf("%s: OCI layout has %s as %v, want %s", service, tag, got, want)
		}
		pushed, err := remote.Image(tag)
		if err != nil {
			t.Errorf("%s: pull: %v", service, err)
		} else if got := digest(t, pushed); got != want {
			t.Errorf("%s: pushed digest %s, want %s", service, got, want)
		}
	}
}

func withoutEnv(env []string, keys ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, k := range keys {
			if strings.HasPrefix(kv, k+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
