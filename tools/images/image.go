package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The user the images run as: distroless's "nonroot", so that clusters
// and policies written for those images accept ours as they are. The
// sandbox image runs as it too: holding namespaces and reaping its own
// children need no privilege.
const (
	UID  = 65532
	User = "65532:65532"
)

// OCI annotation keys set as labels and manifest annotations.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	LabelVersion  = "org.opencontainers.image.version"
	LabelCreated  = "org.opencontainers.image.created"
	LabelTitle    = "org.opencontainers.image.title"
)

// The files besides the binary. /etc/passwd and /etc/group name the user
// for tools that look it up (and for HOME); /tmp is where Helm and Go put
// temporary files when no volume is mounted there.
var (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// Image makes the image of spec from its compiled binary: an empty base
// and one layer holding the binary at /<spec.Binary>.
func Image(binary string, spec Spec, src Source, plat v1.Platform) (v1.Image, error) {
	layer, err := Layer(binary, spec.Binary, src.Created)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: src.Created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: "sdp-image: CGO_ENABLED=0 go build -trimpath ./" + spec.Main,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", spec.Name, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", spec.Name, err)
	}
	cf = cf.DeepCopy()
	labels := map[string]string{
		LabelSource:   src.URL,
		LabelRevision: src.Revision,
		LabelVersion:  src.Version,
		LabelCreated:  src.Created.UTC().Format(time.RFC3339),
		LabelTitle:    spec.Name,
	}
	cf.Created = created
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{"/" + spec.Binary},
		WorkingDir: "/",
		Labels:     labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image of %s: %w", spec.Name, err)
	}
	img, ok := mutate.Annotations(img, labels).(v1.Image)
	if !ok {
		return nil, fmt.Errorf("image of %s: annotating the manifest did not give an image", spec.Name)
	}
	return img, nil
}

// Layer makes the one layer of an image, the binary at /<name>, every
// entry with mtime modTime and owned by root except the user's home.
func Layer(binary, name string, modTime time.Time) (v1.Layer, error) {
	f, err := os.Open(binary)
	if err != nil {
		return nil, fmt.Errorf("layer of %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("layer of %s: %w", name, err)
	}
	// In memory: the layer is read more than once (digest, diff id,
	// upload) and the binary may live in a directory removed before then.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := modTime.UTC()
	entries := []struct {
		hdr  tar.Header
		body io.Reader
	}{
		{tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: "etc/group", Mode: 0o644, Size: int64(len(group))}, bytes.NewReader([]byte(group))},
		{tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: int64(len(passwd))}, bytes.NewReader([]byte(passwd))},
		{tar.Header{Typeflag: tar.TypeDir, Name: "home/", Mode: 0o755}, nil},
		{tar.Header{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, Uid: UID, Gid: UID, Uname: "nonroot", Gname: "nonroot"}, nil},
		{tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: st.Size()}, f},
	}
	for _, e := range entries {
		h := e.hdr
		h.ModTime = mtime
		if h.Uname == "" {
			h.Uname, h.Gname = "root", "root"
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("layer of %s: %s: %w", name, h.Name, err)
		}
		if e.body != nil {
			// tar.Writer fails a short or long body itself.
			if _, err := io.Copy(tw, e.body); err != nil {
				return nil, fmt.Errorf("layer of %s: %s: %w", name, h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer of %s: %w", name, err)
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}
