package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newRootCmd(&out)
	cmd.SetArgs(args)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// Refusals that come before any build.
func TestRefuses(t *testing.T) {
	noDocker := t.TempDir()
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"build: unknown image", nil, []string{"build", "web-ui"}, `unknown image "web-ui"`},
		{"skaffold: unknown service", map[string]string{"IMAGE": "r/x:1"}, []string{"skaffold", "web-ui"}, `unknown service "web-ui"`},
		{"skaffold: no service", map[string]string{"IMAGE": "r/x:1"}, []string{"skaffold"}, "accepts 1 arg"},
		{"skaffold: not run by skaffold", map[string]string{"IMAGE": ""}, []string{"skaffold", "pod-monitor"}, "IMAGE is not set"},
		{"skaffold: bad IMAGE", map[string]string{"IMAGE": "Bad Name:x"}, []string{"skaffold", "pod-monitor"}, "IMAGE"},
		{"skaffold: bad PUSH_IMAGE", map[string]string{"IMAGE": "r/x:1", "PUSH_IMAGE": "maybe"}, []string{"skaffold", "pod-monitor"}, "PUSH_IMAGE"},
		{"skaffold: several platforms", map[string]string{"IMAGE": "r/x:1", "PUSH_IMAGE": "true", "PLATFORMS": "linux/amd64,linux/arm64"}, []string{"skaffold", "pod-monitor"}, "one platform at a time"},
		{"skaffold: local image without docker", map[string]string{"IMAGE": "r/x:1", "PUSH_IMAGE": "false", "PATH": noDocker}, []string{"skaffold", "pod-monitor"}, "no docker CLI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, err := run(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q; output:\n%s", err, tc.want, out)
			}
		})
	}
}

// What skaffold's custom builder pushes is what `build` (make images)
// writes: the same image, digest for digest.
func TestSkaffoldBuildsWhatMakeImagesBuilds(t *testing.T) {
	// A clone of the commit: others commit to the work tree while this
	// runs, and the two builds must see one HEAD.
	root := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("git", "clone", "--quiet", "--local", "../../..", root).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")

	out, err := run(t, "build", "pod-monitor", "--root", root, "--out", t.TempDir())
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// build prints <ref>@<digest>\t<tarball>.
	ref, _, _ := strings.Cut(strings.SplitN(out, "\n", 2)[0], "\t")
	_, built, ok := strings.Cut(ref, "@")
	if !ok {
		t.Fatalf("build printed no digest:\n%s", out)
	}
	want, err := v1.NewHash(built)
	if err != nil {
		t.Fatal(err)
	}

	image := host + "/dev/sdp-helmdeploy/pod-monitor:abc1234"
	t.Setenv("IMAGE", image)
	t.Setenv("PUSH_IMAGE", "true")
	if out, err := run(t, "skaffold", "pod-monitor", "--root", root); err != nil {
		t.Fatalf("skaffold: %v\n%s", err, out)
	}
	tag, err := name.NewTag(image)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := remote.Image(tag)
	if err != nil {
		t.Fatalf("pull %s: %v", image, err)
	}
	got, err := pushed.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("skaffold pushed %s, build made %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(root, "bin")); err == nil {
		t.Error("skaffold mode wrote into the repository's bin/")
	}
}
