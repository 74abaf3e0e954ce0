package images_test

import (
	"archive/tar"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/tools/images"
)

// The images are built once per test binary and shared by the tests.
var (
	workDir string
	root    string
	builds  sync.Map // image name → *build
)

type build struct {
	once sync.Once
	img  v1.Image
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "images-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	// The tests build from a clone of the commit checked out, not from the
	// work tree: in a tree where others commit while the tests run, a
	// moving HEAD would change the revision between two builds that must
	// be equal; and a clone is what CI builds from.
	root = filepath.Join(dir, "repo")
	if out, err := exec.Command("git", "clone", "--quiet", "--local", "../..", root).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "clone the repository: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := cptest.Main(m, localcp.Options{})
	if registryServer != nil {
		registryServer.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the clone the images are built from.
func repoRoot(testing.TB) string { return root }

func source(t testing.TB) images.Source {
	t.Helper()
	src, err := images.GitSource(context.Background(), repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// built is the image called name, built on first use.
func built(t testing.TB, name string) v1.Image {
	t.Helper()
	v, _ := builds.LoadOrStore(name, &build{})
	b := v.(*build)
	b.once.Do(func() {
		dir := filepath.Join(workDir, name)
		if b.err = os.MkdirAll(dir, 0o755); b.err != nil {
			return
		}
		b.img, b.err = images.Build(context.Background(), images.Options{
			Root: repoRoot(t), Name: name, Source: source(t), WorkDir: dir,
		})
	})
	if b.err != nil {
		t.Fatalf("build %s: %v", name, b.err)
	}
	return b.img
}

func lookup(t testing.TB, name string) images.Spec {
	t.Helper()
	spec, err := images.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func digest(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func configName(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// file is one entry of an image's layer.
type file struct {
	hdr  *tar.Header
	data []byte
}

// files reads the entries of the image's only layer.
func files(t testing.TB, img v1.Image) map[string]file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = file{h, data}
	}
}

// extract writes the binary /<binary> out of an image into a temporary
// directory, as a container runtime would unpack it.
func extract(t testing.TB, img v1.Image, binary string) string {
	t.Helper()
	f, ok := files(t, img)[binary]
	if !ok {
		t.Fatalf("no /%s in the image", binary)
	}
	bin := filepath.Join(t.TempDir(), binary)
	if err := os.WriteFile(bin, f.data, os.FileMode(f.hdr.Mode)&os.ModePerm); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestImage checks each image, as this package builds it and as `make
// images` (the services) or `make node-images` (the test node's) leaves it
// in its OCI layout.
func TestImage(t *testing.T) {
	src := source(t)
	for _, from := range []struct {
		name   string
		images []string
		image  func(t testing.TB, name string) v1.Image
	}{
		{"built", images.Names(), built},
		{"make images", images.Services, func(t testing.TB, name string) v1.Image { return madeImages(t).image(t, name) }},
		{"make node-images", images.NodeImages, func(t testing.TB, name string) v1.Image { return madeNodeImages(t).image(t, name) }},
	} {
		for _, name := range from.images {
			t.Run(from.name+"/"+name, func(t *testing.T) {
				checkImage(t, from.image(t, name), lookup(t, name), src)
			})
		}
	}
}

func checkImage(t *testing.T, img v1.Image, spec images.Spec, src images.Source) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	fs := files(t, img)

	t.Run("config", func(t *testing.T) {
		uid, err := strconv.Atoi(strings.SplitN(cf.Config.User, ":", 2)[0])
		if err != nil || uid == 0 {
			t.Errorf("user %q: want a numeric non-root uid", cf.Config.User)
		}
		if !strings.Contains(string(fs["etc/passwd"].data), fmt.Sprintf(":x:%d:%d:", uid, uid)) {
			t.Errorf("/etc/passwd does not name uid %d:\n%s", uid, fs["etc/passwd"].data)
		}
		if !strings.Contains(string(fs["etc/group"].data), fmt.Sprintf(":x:%d:", uid)) {
			t.Errorf("/etc/group does not name gid %d:\n%s", uid, fs["etc/group"].data)
		}
		if got := strings.Join(cf.Config.Entrypoint, " "); got != "/"+spec.Binary {
			t.Errorf("entrypoint %q, want /%s", got, spec.Binary)
		}
		if cf.Config.WorkingDir != "/" || len(cf.Config.Cmd) != 0 || len(cf.Config.Env) != 0 {
			t.Errorf("working dir %q, cmd %q, env %q: want /, none, none", cf.Config.WorkingDir, cf.Config.Cmd, cf.Config.Env)
		}
		if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
			t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
		}
		if !cf.Created.Time.Equal(src.Created) {
			t.Errorf("created %v, want the commit time %v", cf.Created.Time, src.Created)
		}
		want := map[string]string{
			images.LabelSource:   images.DefaultSourceURL,
			images.LabelRevision: src.Revision,
			images.LabelVersion:  src.Version,
			images.LabelCreated:  src.Created.Format(time.RFC3339),
			images.LabelTitle:    spec.Name,
		}
		for k, v := range want {
			if cf.Config.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
			}
		}
		mt, err := img.MediaType()
		if err != nil || mt != types.OCIManifestSchema1 {
			t.Errorf("manifest media type %q (%v), want OCI", mt, err)
		}
	})

	t.Run("layer", func(t *testing.T) {
		want := map[string]struct {
			typ  byte
			mode int64
		}{
			"etc/":          {tar.TypeDir, 0o755},
			"etc/passwd":    {tar.TypeReg, 0o644},
			"etc/group":     {tar.TypeReg, 0o644},
			"home/":         {tar.TypeDir, 0o755},
			"home/nonroot/": {tar.TypeDir, 0o700},
			"tmp/":          {tar.TypeDir, 0o1777},
			spec.Binary:     {tar.TypeReg, 0o755},
		}
		if len(fs) != len(want) {
			t.Errorf("%d entries, want %d", len(fs), len(want))
		}
		for name, w := range want {
			f, ok := fs[name]
			if !ok {
				t.Errorf("no %s", name)
				continue
			}
			if f.hdr.Typeflag != w.typ || f.hdr.Mode != w.mode {
				t.Errorf("%s: type %c mode %o, want %c %o", name, f.hdr.Typeflag, f.hdr.Mode, w.typ, w.mode)
			}
			if !f.hdr.ModTime.Equal(src.Created) {
				t.Errorf("%s: mtime %v, want the commit time %v", name, f.hdr.ModTime, src.Created)
			}
		}
	})

	t.Run("static binary", func(t *testing.T) {
		bin := extract(t, img, spec.Binary)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("not an ELF file: %v", err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("has a %v program header: dynamically linked", p.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("imports shared libraries %v", libs)
		}
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "vcs.revision": src.Revision} {
			if settings[k] != v {
				t.Errorf("build setting %s = %q, want %q", k, settings[k], v)
			}
		}
		if bi.Path != "github.com/ska-telescope/sdp-helmdeploy/"+spec.Main {
			t.Errorf("the binary is %s, want ./%s", bi.Path, spec.Main)
		}
		if !slices.Contains(images.Services, spec.Name) {
			// The node's programs speak to no one over TLS.
			return
		}
		roots := false
		for _, d := range bi.Deps {
			roots = roots || d.Path == "golang.org/x/crypto/x509roots/fallback"
		}
		if !roots {
			t.Error("the binary does not carry CA roots (golang.org/x/crypto/x509roots/fallback): HTTPS fails in a scratch image")
		}
	})
}

func TestReproducible(t *testing.T) {
	const service = "pod-monitor"
	first := built(t, service)
	src := source(t)
	// The second build from another checkout of the commit, elsewhere:
	// where the sources lie must not show in the image.
	other := filepath.Join(t.TempDir(), "another", "checkout")
	if out, err := exec.Command("git", "clone", "--quiet", "--local", repoRoot(t), other).CombinedOutput(); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	again, err := images.Build(context.Background(), images.Options{Root: other, Name: service, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := digest(t, first), digest(t, again); a != b {
		t.Errorf("two builds of one commit: %s and %s", a, b)
	}
	// The control: a change the build must see gives another digest.
	src.Created = src.Created.Add(time.Second)
	later, err := images.Build(context.Background(), images.Options{Root: repoRoot(t), Name: service, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, later) == digest(t, first) {
		t.Error("another creation time gave the same digest")
	}
}

func TestOutputs(t *testing.T) {
	const service = "pod-monitor"
	img := built(t, service)
	want := digest(t, img)
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	tags, err := images.Tags(host+"/sdp", service, false, "v1", "latest")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("push and pull", func(t *testing.T) {
		if err := images.Push(context.Background(), img, tags...); err != nil {
			t.Fatal(err)
		}
		for _, tag := range tags {
			pulled, err := remote.Image(tag)
			if err != nil {
				t.Fatalf("pull %s: %v", tag, err)
			}
			if got := digest(t, pulled); got != want {
				t.Errorf("pulled %s: digest %s, want %s", tag, got, want)
			}
			cf, err := pulled.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Config.User != images.User {
				t.Errorf("pulled %s: user %q", tag, cf.Config.User)
			}
		}
		if _, err := remote.Image(tags[0].Digest(want.String())); err != nil {
			t.Errorf("pull by digest: %v", err)
		}
	})

	t.Run("tarball", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), service+".tar")
		if err := images.WriteTarball(path, img, tags...); err != nil {
			t.Fatal(err)
		}
		for _, tag := range tags {
			read, err := tarball.ImageFromPath(path, &tag)
			if err != nil {
				t.Fatalf("read %s from the tarball: %v", tag, err)
			}
			// A docker tarball keeps the config and the layers, not the
			// manifest: the image is the same when its config (the image
			// id, naming every layer's content) is.
			if got, want := configName(t, read), configName(t, img); got != want {
				t.Errorf("%s in the tarball: image id %s, want %s", tag, got, want)
			}
		}
	})

	t.Run("OCI layout", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "oci")
		// Written twice: the second replaces the first, not adds to it.
		for range 2 {
			if err := images.WriteLayout(dir, []images.Named{{Image: img, Tags: tags}}); err != nil {
				t.Fatal(err)
			}
		}
		got := layoutRefs(t, dir)
		if len(got) != len(tags) {
			t.Errorf("layout names %v, want %v", got, tags)
		}
		for _, tag := range tags {
			if d, ok := got[tag.String()]; !ok || d != want {
				t.Errorf("layout: %s is %v, want %s", tag, d, want)
			}
		}
	})
}

// layoutRefs maps the reference names in an OCI layout to their digests.
func layoutRefs(t testing.TB, dir string) map[string]v1.Hash {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]v1.Hash{}
	for _, d := range m.Manifests {
		out[d.Annotations[images.RefNameAnnotation]] = d.Digest
	}
	return out
}

func TestTagsRejectBadNames(t *testing.T) {
	for _, tc := range []struct {
		repo, tag string
		ok        bool
	}{
		{"sdp-helmdeploy", "v1.2.3-4-gabcdef0-dirty", true},
		{"127.0.0.1:5000/a/b", "latest", true},
		{"Upper/Case", "v1", false},
		{"sdp-helmdeploy", "bad:tag", false},
		{"sdp-helmdeploy", strings.Repeat("x", 129), false},
	} {
		_, err := images.Tags(tc.repo, "pod-monitor", false, tc.tag)
		if (err == nil) != tc.ok {
			t.Errorf("Tags(%q, %q): err %v, want ok=%v", tc.repo, tc.tag, err, tc.ok)
		}
	}
}

func TestTagsInsecure(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		tags, err := images.Tags("registry.example.org/sdp", "pod-monitor", insecure, "v1")
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "https", true: "http"}[insecure]
		if got := tags[0].Context().Registry.Scheme(); got != want {
			t.Errorf("insecure=%v: scheme %s, want %s", insecure, got, want)
		}
	}
}

func TestGitSource(t *testing.T) {
	out, err := exec.Command("git", "-C", repoRoot(t), "log", "-1", "--format=%ct %H").Output()
	if err != nil {
		t.Fatal(err)
	}
	var commitTime int64
	var commit string
	if _, err := fmt.Sscan(string(out), &commitTime, &commit); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		epoch   string // SOURCE_DATE_EPOCH; "" unset
		want    time.Time
		wantErr bool
	}{
		{"", time.Unix(commitTime, 0).UTC(), false},
		{"1700000000", time.Unix(1700000000, 0).UTC(), false},
		{"yesterday", time.Time{}, true},
	} {
		t.Run("SOURCE_DATE_EPOCH="+tc.epoch, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", tc.epoch)
			src, err := images.GitSource(context.Background(), repoRoot(t))
			if tc.wantErr {
				if err == nil {
					t.Errorf("no error for SOURCE_DATE_EPOCH=%q", tc.epoch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !src.Created.Equal(tc.want) || src.Revision != commit {
				t.Errorf("created %v revision %s, want %v %s", src.Created, src.Revision, tc.want, commit)
			}
			// The clone is clean; git describe names the commit by a tag
			// (<tag>[-<n>-g<abbrev>]) or, with none, by its abbreviation.
			if src.Version == "" || strings.HasSuffix(src.Version, "-dirty") || !(strings.HasPrefix(commit, src.Version) || strings.Contains(src.Version, "-g") || !strings.ContainsAny(src.Version, "-")) {
				t.Errorf("version %q for commit %s", src.Version, commit)
			}
		})
	}
}
