package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DefaultRepo is where the images are named when no registry is given:
// sdp-helmdeploy/<name> (a Spec's Name).
const DefaultRepo = "sdp-helmdeploy"

// RefNameAnnotation names an image in an OCI layout's index.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Tags names an image <repo>/<name>:<tag> for each tag. insecure
// lets the registry be reached over plain HTTP.
func Tags(repo, image string, insecure bool, tags ...string) ([]name.Tag, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	out := make([]name.Tag, 0, len(tags))
	for _, tag := range tags {
		t, err := name.NewTag(repo+"/"+image+":"+tag, opts...)
		if err != nil {
			return nil, fmt.Errorf("name of the %s image: %w", image, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// WriteTarball writes img under every tag as a tarball `docker load` reads,
// replacing path only once the whole file is written.
func WriteTarball(path string, img v1.Image, tags ...name.Tag) error {
	refs := make(map[name.Reference]v1.Image, len(tags))
	for _, t := range tags {
		refs[t] = img
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Named is an image and the names it goes by.
type Named struct {
	Image v1.Image
	Tags  []name.Tag
}

// WriteLayout adds the images to the OCI image layout at dir, created if
// missing, once per tag, each named in the index by its reference. Images
// of the same names that were there before are replaced and their blobs
// removed, so that building one image leaves the others in place.
func WriteLayout(dir string, imgs []Named) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("OCI layout %s: %w", dir, err)
		}
	}
	for _, n := range imgs {
		cf, err := n.Image.ConfigFile()
		if err != nil {
			return fmt.Errorf("OCI layout %s: %w", dir, err)
		}
		title := cf.Config.Labels[LabelTitle]
		if err := p.RemoveDescriptors(func(d v1.Descriptor) bool { return title != "" && d.Annotations[LabelTitle] == title }); err != nil {
			return fmt.Errorf("OCI layout %s: %w", dir, err)
		}
		names := make([]string, 0, len(n.Tags))
		for _, t := range n.Tags {
			names = append(names, t.String())
		}
		sort.Strings(names)
		for _, ref := range names {
			opts := []layout.Option{layout.WithAnnotations(map[string]string{RefNameAnnotation: ref, LabelTitle: title})}
			if plat := cf.Platform(); plat != nil {
				opts = append(opts, layout.WithPlatform(*plat))
			}
			if err := p.AppendImage(n.Image, opts...); err != nil {
				return fmt.Errorf("OCI layout %s: %s: %w", dir, ref, err)
			}
		}
	}
	unused, err := p.GarbageCollect()
	if err != nil {
		return fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	for _, h := range unused {
		if err := p.RemoveBlob(h); err != nil {
			return fmt.Errorf("OCI layout %s: %w", dir, err)
		}
	}
	return nil
}

// Push writes img to the registry under every tag, with the credentials of
// the Docker config (as docker login leaves them), if any.
func Push(ctx context.Context, img v1.Image, tags ...name.Tag) error {
	for _, t := range tags {
		if err := remote.Write(t, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("push %s: %w", t, err)
		}
	}
	return nil
}
