// Command sdp-image builds the services' container images, and the test
// node's (pause, receiver), without a container daemon (package images)
// and writes, pushes or hands them over.
//
//	sdp-image build [image...]     what `make images` runs: bin/images/<image>.tar,
//	                               an OCI layout bin/images/oci/ with all of them,
//	                               and a push of each when --registry (REGISTRY) is set;
//	                               the services unless images are named
//	                               (`make node-images`: pause receiver)
//	sdp-image skaffold <service>   skaffold's custom builder: builds $IMAGE and pushes
//	                               it when $PUSH_IMAGE is true, else loads it into the
//	                               local Docker daemon (which skaffold then looks in)
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/ska-telescope/sdp-helmdeploy/tools/images"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd(os.Stdout).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "sdp-image:", err)
		os.Exit(1)
	}
}

// common are the flags of both commands.
type common struct {
	root     string
	platform string
	insecure bool
	source   string
}

func (c *common) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.root, "root", "", "repository root (default: the git work tree of the current directory)")
	cmd.Flags().StringVar(&c.platform, "platform", "", "image platform os/arch[/variant] (default linux/<this machine's arch>)")
	cmd.Flags().BoolVar(&c.insecure, "insecure", envBool("SDP_IMAGE_INSECURE"), "reach the registry over plain HTTP (loopback and private addresses always are) [SDP_IMAGE_INSECURE]")
	cmd.Flags().StringVar(&c.source, "source-url", images.DefaultSourceURL, "the org.opencontainers.image.source label")
}

// resolve fills in the root and returns the commit and the platform.
func (c *common) resolve(ctx context.Context) (images.Source, v1.Platform, error) {
	if c.root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return images.Source{}, v1.Platform{}, err
		}
		if c.root, err = images.RepoRoot(ctx, wd); err != nil {
			return images.Source{}, v1.Platform{}, err
		}
	}
	src, err := images.GitSource(ctx, c.root)
	if err != nil {
		return images.Source{}, v1.Platform{}, err
	}
	src.URL = c.source
	plat := images.DefaultPlatform()
	if c.platform != "" {
		p, err := v1.ParsePlatform(c.platform)
		if err != nil {
			return images.Source{}, v1.Platform{}, fmt.Errorf("--platform: %w", err)
		}
		plat = *p
	}
	return src, plat, nil
}

func newRootCmd(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "sdp-image",
		Short:         "Build the services' container images without a container daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.AddCommand(newBuildCmd(stdout), newSkaffoldCmd(stdout))
	return root
}

func newBuildCmd(stdout io.Writer) *cobra.Command {
	var (
		c        common
		out      string
		registry string
		tags     []string
		latest   bool
	)
	cmd := &cobra.Command{
		Use:   "build [image...]",
		Short: "Build images (default: every service) into tarballs and an OCI layout; push them given a registry",
		Long: `Build writes <out>/<image>.tar (docker load and ctr images import read it)
and the OCI layout <out>/oci/ holding every image built, named
<repo>/<image>:<tag> with <repo> the registry when one is given, else
"` + images.DefaultRepo + `". The images are the services' unless named: one of
` + strings.Join(images.Names(), ", ") + `. The tag is
git describe --tags --always --dirty unless --tag is given. With a registry
(--registry or REGISTRY, host[:port][/path]) each image is also pushed.`,
		ValidArgs: images.Names(),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := args
			if len(names) == 0 {
				names = images.Services
			}
			for _, n := range names {
				if _, err := images.Lookup(n); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			src, plat, err := c.resolve(ctx)
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(c.root, "bin", "images")
			}
			if len(tags) == 0 {
				tags = []string{src.Version}
			}
			if latest {
				tags = append(tags, "latest")
			}
			repo := images.DefaultRepo
			if registry != "" {
				repo = strings.TrimSuffix(registry, "/")
			}
			var built []images.Named
			for _, n := range names {
				refs, err := images.Tags(repo, n, c.insecure, tags...)
				if err != nil {
					return err
				}
				img, err := images.Build(ctx, images.Options{Root: c.root, Name: n, Source: src, Platform: plat})
				if err != nil {
					return err
				}
				digest, err := img.Digest()
				if err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
				tarPath := filepath.Join(out, n+".tar")
				if err := images.WriteTarball(tarPath, img, refs...); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s@%s\t%s\n", refs[0], digest, tarPath)
				if registry != "" {
					if err := images.Push(ctx, img, refs...); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "pushed %s@%s\n", refs[0], digest)
				}
				built = append(built, images.Named{Image: img, Tags: refs})
			}
			layoutDir := filepath.Join(out, "oci")
			if err := images.WriteLayout(layoutDir, built); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "OCI layout\t%s\n", layoutDir)
			return nil
		},
	}
	c.bind(cmd)
	cmd.Flags().StringVar(&out, "out", "", "output directory (default <root>/bin/images)")
	cmd.Flags().StringVar(&registry, "registry", os.Getenv("REGISTRY"), "push to this registry, host[:port][/path] [REGISTRY]")
	cmd.Flags().StringSliceVar(&tags, "tag", nil, "image tags (default: git describe --tags --always --dirty)")
	cmd.Flags().BoolVar(&latest, "latest", false, "also tag latest")
	return cmd
}

func newSkaffoldCmd(stdout io.Writer) *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "skaffold <service>",
		Short: "Skaffold's custom builder: build $IMAGE, push it if $PUSH_IMAGE is true, else docker load it",
		Long: `The contract of skaffold's custom builder: $IMAGE is the full reference to
build, $PUSH_IMAGE says whether it must end up in its registry (true) or in
the local Docker daemon (false, the one step that needs a daemon: it is only
handed the finished image), $PLATFORMS the platform (one only).`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: images.Services,
		RunE: func(cmd *cobra.Command, args []string) error {
			service := args[0]
			if err := images.CheckService(service); err != nil {
				return err
			}
			ref, push, err := skaffoldEnv(c.insecure)
			if err != nil {
				return err
			}
			if p := os.Getenv("PLATFORMS"); p != "" {
				if strings.Contains(p, ",") {
					return fmt.Errorf("PLATFORMS=%s: one platform at a time", p)
				}
				c.platform = p
			}
			var docker string
			if !push {
				// Before the build, so that a missing docker CLI is said at once.
				if docker, err = exec.LookPath("docker"); err != nil {
					return fmt.Errorf("PUSH_IMAGE=false asks for the image in the local Docker daemon and there is no docker CLI: push instead (skaffold --default-repo=<registry>): %w", err)
				}
			}
			ctx := cmd.Context()
			src, plat, err := c.resolve(ctx)
			if err != nil {
				return err
			}
			img, err := images.Build(ctx, images.Options{Root: c.root, Name: service, Source: src, Platform: plat})
			if err != nil {
				return err
			}
			digest, err := img.Digest()
			if err != nil {
				return err
			}
			if push {
				if err := images.Push(ctx, img, ref); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "pushed %s@%s\n", ref, digest)
				return nil
			}
			if err := dockerLoad(ctx, docker, img, ref); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "loaded %s (%s) into the Docker daemon\n", ref, digest)
			return nil
		},
	}
	c.bind(cmd)
	return cmd
}

// skaffoldEnv reads $IMAGE and $PUSH_IMAGE.
func skaffoldEnv(insecure bool) (name.Tag, bool, error) {
	image := os.Getenv("IMAGE")
	if image == "" {
		return name.Tag{}, false, errors.New("IMAGE is not set: this command is run by skaffold's custom builder (use build otherwise)")
	}
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.NewTag(image, opts...)
	if err != nil {
		return name.Tag{}, false, fmt.Errorf("IMAGE: %w", err)
	}
	push := false
	if v := os.Getenv("PUSH_IMAGE"); v != "" {
		if push, err = strconv.ParseBool(v); err != nil {
			return name.Tag{}, false, fmt.Errorf("PUSH_IMAGE=%q: %w", v, err)
		}
	}
	return ref, push, nil
}

// dockerLoad hands a built image to the local Docker daemon, which skaffold
// expects it in when it does not push.
func dockerLoad(ctx context.Context, docker string, img v1.Image, ref name.Tag) error {
	dir, err := os.MkdirTemp("", "sdp-image-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tarPath := filepath.Join(dir, "image.tar")
	if err := images.WriteTarball(tarPath, img, ref); err != nil {
		return err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, docker, "load", "--input", tarPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("docker load %s: %w: %s", ref, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func envBool(key string) bool {
	b, _ := strconv.ParseBool(os.Getenv(key))
	return b
}
