package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// DefaultSourceURL is the org.opencontainers.image.source label when none
// is given: the repository that the Go module paths name.
const DefaultSourceURL = "https://github.com/ska-telescope/sdp-helmdeploy"

// Source is the commit an image is built from. Everything in an image that
// could differ between two builds of one commit is taken from here, so that
// they give the same digest.
type Source struct {
	// Version is `git describe --tags --always --dirty`: the image tag.
	Version string
	// Revision is the full commit hash.
	Revision string
	// Created is the commit time, or SOURCE_DATE_EPOCH when set: the
	// image's creation time and the mtime of every file in it.
	Created time.Time
	// URL is the org.opencontainers.image.source label.
	URL string
}

// GitSource reads the Source of the work tree at root.
func GitSource(ctx context.Context, root string) (Source, error) {
	src := Source{URL: DefaultSourceURL}
	var err error
	if src.Version, err = git(ctx, root, "describe", "--tags", "--always", "--dirty"); err != nil {
		return Source{}, err
	}
	if src.Revision, err = git(ctx, root, "rev-parse", "HEAD"); err != nil {
		return Source{}, err
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		if epoch, err = git(ctx, root, "log", "-1", "--format=%ct"); err != nil {
			return Source{}, err
		}
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return Source{}, fmt.Errorf("source date epoch %q: %w", epoch, err)
	}
	src.Created = time.Unix(secs, 0).UTC()
	return src, nil
}

// RepoRoot is the top of the git work tree that holds dir.
func RepoRoot(ctx context.Context, dir string) (string, error) {
	return git(ctx, dir, "rev-parse", "--show-toplevel")
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
