package images_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/ska-telescope/sdp-helmdeploy/tools/images"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/eventually"
)

// TestMakeNodeImages checks what `make node-images` leaves: for each of
// the test node's images a tarball that `ctr images import` takes (checked
// here as its importer reads it: ctr needs a running containerd) named
// with the version and latest, each the image this package builds for the
// commit, and nothing of the services.
func TestMakeNodeImages(t *testing.T) {
	m := madeNodeImages(t)
	t.Logf("make node-images:\n%s", m.output)
	entries, err := os.ReadDir(m.out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := []string{"oci", "pause.tar", "receiver.tar"}; !slices.Equal(got, want) {
		t.Errorf("make node-images wrote %v, want %v", got, want)
	}
	refs := layoutRefs(t, filepath.Join(m.out, "oci"))
	if len(refs) != 2*len(images.NodeImages) {
		t.Errorf("OCI layout holds %v, want each node image as its version and latest", refs)
	}
	for _, image := range images.NodeImages {
		t.Run(image, func(t *testing.T) {
			img := built(t, image)
			tags := []name.Tag{m.tag(t, image), m.ref(t, image, "latest")}
			for _, tag := range tags {
				if d, ok := refs[tag.String()]; !ok || d != digest(t, img) {
					t.Errorf("OCI layout has %s as %v, want %s", tag, d, digest(t, img))
				}
			}
			checkDockerArchive(t, filepath.Join(m.out, image+".tar"), tags, img)
		})
	}
}

// checkDockerArchive reads a docker-load tarball as containerd's importer
// (ctr images import) does: manifest.json names the config and the layers
// by file and the image by RepoTags; the layers, gzipped or not, must
// uncompress to the config's diff ids, which unpacking checks; the config
// must be for this platform, as ctr imports only that one by default.
func checkDockerArchive(t *testing.T, path string, wantTags []name.Tag, img v1.Image) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blobs := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if blobs[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(blobs["manifest.json"], &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) != 1 {
		t.Fatalf("manifest.json has %d images, want 1", len(manifest))
	}
	mf := manifest[0]
	var want []string
	for _, tag := range wantTags {
		want = append(want, tag.String())
	}
	if tags := slices.Sorted(slices.Values(mf.RepoTags)); !slices.Equal(tags, slices.Sorted(slices.Values(want))) {
		t.Errorf("RepoTags %v, want %v", mf.RepoTags, wantTags)
	}
	config, ok := blobs[mf.Config]
	if !ok {
		t.Fatalf("no config %s in the tarball", mf.Config)
	}
	if sum := sha256.Sum256(config); "sha256:"+hex.EncodeToString(sum[:]) != configName(t, img).String() {
		t.Errorf("config sha256:%x, want the image id %s", sum, configName(t, img))
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(config, &cf); err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("config for %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if len(mf.Layers) != 1 || len(cf.RootFS.DiffIDs) != 1 {
		t.Fatalf("layers %v, diff ids %v: want one", mf.Layers, cf.RootFS.DiffIDs)
	}
	layer, ok := blobs[mf.Layers[0]]
	if !ok {
		t.Fatalf("no layer %s in the tarball", mf.Layers[0])
	}
	var r io.Reader = bytes.NewReader(layer)
	if zr, err := gzip.NewReader(bytes.NewReader(layer)); err == nil {
		r = zr
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != cf.RootFS.DiffIDs[0].String() {
		t.Errorf("the layer uncompresses to %s, the config's diff id is %s", got, cf.RootFS.DiffIDs[0])
	}
	// And as docker load reads it.
	for _, tag := range wantTags {
		ref, err := tarball.ImageFromPath(path, &tag)
		if err != nil {
			t.Fatalf("read %s from the tarball: %v", tag, err)
		}
		if configName(t, ref) != configName(t, img) {
			t.Errorf("%s in the tarball: image id %s, want %s", tag, configName(t, ref), configName(t, img))
		}
	}
}

// TestNodeImageBinariesRun runs each node image's program as the node
// would: sdp-pause blocks until SIGTERM and exits 0; sdp-receiver becomes
// ready as its own exec probe sees it, and /exit?code=N ends it with N.
// "on the host" runs the binary taken out of the image; "in the image, as
// its user" in the unpacked image chrooted into as 65532, probe included,
// as the kubelet's exec probe runs in the container (needs root, skipped
// without). Neither is a container runtime.
func TestNodeImageBinariesRun(t *testing.T) {
	for _, image := range images.NodeImages {
		spec := lookup(t, image)
		img := madeNodeImages(t).image(t, image)
		for _, how := range []string{"on the host", "in the image, as its user"} {
			t.Run(image+"/"+how, func(t *testing.T) {
				var command func(args ...string) *exec.Cmd
				if how == "on the host" {
					bin := extract(t, img, spec.Binary)
					command = func(args ...string) *exec.Cmd { return exec.Command(bin, args...) }
				} else {
					if os.Geteuid() != 0 {
						t.Skip("SKIP: chroot needs root; the binary ran on the host")
					}
					rootfs := unpack(t, img)
					cf, err := img.ConfigFile()
					if err != nil {
						t.Fatal(err)
					}
					command = func(args ...string) *exec.Cmd {
						return exec.Command("chroot", append([]string{"--userspec=" + cf.Config.User, rootfs}, append(cf.Config.Entrypoint, args...)...)...)
					}
				}
				switch image {
				case "pause":
					checkPause(t, command)
				case "receiver":
					checkReceiver(t, command)
				default:
					t.Fatalf("no check of %s", image)
				}
			})
		}
	}
}

// started starts cmd and returns a channel with its exit code.
func started(t *testing.T, cmd *exec.Cmd) <-chan int {
	t.Helper()
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			done <- 0
		case errors.As(err, &ee):
			done <- ee.ExitCode()
		default:
			done <- -2
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return done
}

func checkPause(t *testing.T, command func(args ...string) *exec.Cmd) {
	cmd := command()
	done := started(t, cmd)
	select {
	case code := <-done:
		t.Fatalf("exited by itself with %d", code)
	case <-time.After(500 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
}

func checkReceiver(t *testing.T, command func(args ...string) *exec.Cmd) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	done := started(t, command("--port="+port, "--ready-after=200ms"))
	probe := func() int {
		_, err := command("probe", "--port", port).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	eventually.True(t, 15*time.Second, "the probe passes", func() bool { return probe() == 0 })
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%s/exit?code=3", port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case code := <-done:
		if code != 3 {
			t.Errorf("exit code %d after /exit?code=3", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after /exit?code=3")
	}
	// Nothing is left to answer the probe: it must say so.
	if code := probe(); code == 0 {
		t.Error("the probe passed with the receiver gone")
	}
}
