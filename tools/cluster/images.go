//go:build linux

package cluster

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/ska-telescope/sdp-helmdeploy/tools/images"
)

// ImageTag is the tag the suite gives the images it builds; the chart and
// the processing charts ask for it with imagePullPolicy Never, as nothing
// can be pulled here.
const ImageTag = "node-test"

// Image is the reference of one of the project's images as the suite
// tags it.
func Image(name string) string { return images.DefaultRepo + "/" + name + ":" + ImageTag }

// BuildImages builds every image the project makes (the services', the
// pause and receiver images) with the same code as `make images`, and
// writes each as a tarball that containerd imports; it returns the paths.
func BuildImages(ctx context.Context, root, dir string) ([]string, error) {
	src, err := images.GitSource(ctx, root)
	if err != nil {
		return nil, err
	}
	var tars []string
	for _, name := range images.Names() {
		img, err := images.Build(ctx, images.Options{Root: root, Name: name, Source: src})
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		tags, err := images.Tags(images.DefaultRepo, name, false, ImageTag)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, name+".tar")
		if err := images.WriteTarball(p, img, tags...); err != nil {
			return nil, err
		}
		tars = append(tars, p)
	}
	return tars, nil
}
