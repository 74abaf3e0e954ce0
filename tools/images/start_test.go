package images_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/localcp/cptest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/manifests"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/servicetest"
	"github.com/ska-telescope/sdp-helmdeploy/tools/images"
)

// TestBinaryInImageStarts runs the binary of each image `make images`
// built through the
// lifecycle test every service binary passes (servicetest.CheckBinary):
// against a real etcd and the local control plane's kube-apiserver it
// answers /healthz, /readyz and /metrics, leads, logs JSON, exits 1 on bad
// settings and 0 on SIGTERM.
//
// "on the host" runs the binary taken out of the image as this test's user.
// "in the image, as its user" comes closer to a container: the image's
// filesystem unpacked and chrooted into, the binary run as the image's
// user (65532) with only what the image holds — no libc, no CA files, no
// /etc but its passwd and group. It needs root (chroot), and is skipped,
// saying so, without. Neither is a container runtime: namespaces, cgroups
// and a read-only root are not tried.
func TestBinaryInImageStarts(t *testing.T) {
	cp := cptest.Get(t)
	// Namespace sdp and the NetworkAttachmentDefinition CRD that
	// resource-monitor watches.
	if err := manifests.Apply(context.Background(), cp.RESTConfig(), filepath.Join(repoRoot(t), "deploy"), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(cp.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, service := range images.Services {
		t.Run(service, func(t *testing.T) {
			img := madeImages(t).image(t, service)
			t.Run("on the host", func(t *testing.T) {
				servicetest.CheckBinary(t, extract(t, img, service), service, "KUBECONFIG="+cp.KubeconfigPath, "SDP_HELM_NAMESPACE=sdp")
			})
			t.Run("in the image, as its user", func(t *testing.T) {
				if os.Geteuid() != 0 {
					t.Skip("SKIP: chroot needs root; the binary ran on the host above")
				}
				chroot, err := exec.LookPath("chroot")
				if err != nil {
					t.Fatalf("chroot(8) is needed: %v", err)
				}
				rootfs := unpack(t, img)
				// Readable by the image's user, as a mounted Secret would be.
				if err := os.WriteFile(filepath.Join(rootfs, "kubeconfig"), kubeconfig, 0o644); err != nil {
					t.Fatal(err)
				}
				cf, err := img.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				// servicetest runs a program with the service's arguments:
				// this one enters the image first.
				run := filepath.Join(t.TempDir(), service)
				script := fmt.Sprintf("#!/bin/sh\nexec %s --userspec=%s %s %s \"$@\"\n",
					chroot, cf.Config.User, rootfs, strings.Join(cf.Config.Entrypoint, " "))
				if err := os.WriteFile(run, []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
				// HOME=/tmp as the charts set it (the root filesystem is
				// read-only there, /tmp a volume).
				env := []string{"KUBECONFIG=/kubeconfig", "SDP_HELM_NAMESPACE=sdp", "HOME=/tmp"}
				t.Run("runs as the image's user in the image's root", func(t *testing.T) {
					srv := etcdtest.Start(t)
					p := servicetest.Start(t, run, append([]string{"SDP_CONFIG_HOST=127.0.0.1", fmt.Sprintf("SDP_CONFIG_PORT=%d", srv.Port)}, env...))
					p.WaitFor(t, "/readyz", 200, "ok", 20*time.Second)
					status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
					if err != nil {
						t.Fatal(err)
					}
					uid := strings.SplitN(cf.Config.User, ":", 2)[0]
					if want := fmt.Sprintf("\nUid:\t%s\t%s\t%s\t%s\n", uid, uid, uid, uid); !strings.Contains(string(status), want) {
						t.Errorf("the process's uids are not %s:\n%s", uid, status)
					}
					if r, err := os.Readlink(fmt.Sprintf("/proc/%d/root", p.PID())); err != nil || r != rootfs {
						t.Errorf("the process's root is %q (%v), want the unpacked image %s", r, err, rootfs)
					}
					if code := p.Stop(t, 15*time.Second); code != 0 {
						t.Errorf("exit code %d after SIGTERM", code)
					}
				})
				servicetest.CheckBinary(t, run, service, env...)
			})
		})
	}
}

// unpack writes the image's filesystem into a new directory, with the
// modes and owners its layers give.
func unpack(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	// The directory is the image's "/": others must be able to enter it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(path, dir+string(filepath.Separator)) {
			t.Fatalf("layer entry %q escapes the root", h.Name)
		}
		mode := h.FileInfo().Mode()
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o700)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
				_, err = io.Copy(f, tr)
				err = errors.Join(err, f.Close())
			}
		default:
			t.Fatalf("layer entry %q of type %c: not expected in these images", h.Name, h.Typeflag)
		}
		if err == nil {
			err = os.Lchown(path, h.Uid, h.Gid)
		}
		if err == nil {
			// After chown, which clears the set-id bits; sticky kept.
			err = os.Chmod(path, mode&(os.ModePerm|os.ModeSticky))
		}
		if err != nil {
			t.Fatalf("unpack %s: %v", h.Name, err)
		}
	}
}
