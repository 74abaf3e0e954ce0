package images_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ska-telescope/sdp-helmdeploy/tools/images"
)

// makeRun is one run of a make target, shared by the tests.
type makeRun struct {
	target string
	once   sync.Once
	out    string // IMAGES_DIR
	repo   string // REGISTRY, or the default repository without one
	output []byte
	err    error
}

var (
	makeOnce     = makeRun{target: "images"}
	makeNodeOnce = makeRun{target: "node-images"}
	// registryServer serves REGISTRY for the make run until TestMain ends.
	registryServer *httptest.Server
)

// madeImages runs `make images IMAGES_DIR=<tmp> REGISTRY=<in-process
// registry>` once, as a developer would, and returns the run.
func madeImages(t testing.TB) *makeRun {
	t.Helper()
	return makeOnce.run(t, func() string {
		registryServer = httptest.NewServer(registry.New())
		return strings.TrimPrefix(registryServer.URL, "http://") + "/sdp"
	})
}

// madeNodeImages runs `make node-images IMAGES_DIR=<tmp>` once, without a
// registry as the test node has none, and returns the run.
func madeNodeImages(t testing.TB) *makeRun {
	t.Helper()
	return makeNodeOnce.run(t, nil)
}

// run runs the target once, pushing to the registry that registry starts
// when it is not nil.
func (m *makeRun) run(t testing.TB, registry func() string) *makeRun {
	t.Helper()
	m.once.Do(func() {
		if _, m.err = exec.LookPath("make"); m.err != nil {
			return
		}
		m.out = filepath.Join(workDir, "make-"+m.target)
		args := []string{"--no-print-directory", "-C", repoRoot(t), m.target, "IMAGES_DIR=" + m.out}
		m.repo = images.DefaultRepo
		if registry != nil {
			m.repo = registry()
			args = append(args, "REGISTRY="+m.repo)
		}
		cmd := exec.Command("make", args...)
		// A make running this test must not hand its jobserver and
		// variables on.
		cmd.Env = withoutEnv(os.Environ(), "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "IMAGE_FLAGS", "REGISTRY")
		m.output, m.err = cmd.CombinedOutput()
	})
	if m.err != nil {
		t.Fatalf("make %s: %v\n%s", m.target, m.err, m.output)
	}
	return m
}

// tag is the name the make run gives an image, tagged with the version.
func (m *makeRun) tag(t testing.TB, image string) name.Tag {
	t.Helper()
	return m.ref(t, image, source(t).Version)
}

// ref is the name the make run gives an image, tagged tag.
func (m *makeRun) ref(t testing.TB, image, tag string) name.Tag {
	t.Helper()
	ref, err := name.NewTag(m.repo + "/" + image + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// image is an image as the make run left it in the OCI layout.
func (m *makeRun) image(t testing.TB, image string) v1.Image {
	t.Helper()
	want := m.tag(t, image).String()
	idx, err := layout.ImageIndexFromPath(filepath.Join(m.out, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Annotations[images.RefNameAnnotation] == want {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no %s in the OCI layout of make %s", want, m.target)
	return nil
}

// TestMakeImages checks what `make images` leaves: a docker-loadable
// tarball per service, the OCI layout with all three and the pushed
// images, each the image this package builds for the commit (same digest;
// TestImage checks that image, TestBinaryInImageStarts runs the binary of
// the one in make's layout).
func TestMakeImages(t *testing.T) {
	m := madeImages(t)
	t.Logf("make images:\n%s", m.output)
	refs := layoutRefs(t, filepath.Join(m.out, "oci"))
	if len(refs) != len(images.Services) {
		t.Errorf("OCI layout holds %v, want one image per service", refs)
	}
	for _, service := range images.Services {
		img := built(t, service)
		want := digest(t, img)
		tag := m.tag(t, service)
		fromTar, err := tarball.ImageFromPath(filepath.Join(m.out, service+".tar"), &tag)
		if err != nil {
			t.Errorf("%s: tarball: %v", service, err)
		} else if got, want := configName(t, fromTar), configName(t, img); got != want {
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
