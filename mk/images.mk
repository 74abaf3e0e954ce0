# Container images of the services, built without a container daemon by
# tools/cmd/sdp-image (package tools/images): a static binary on an empty
# base, user 65532, tagged `git describe --tags --always --dirty`,
# reproducible (every timestamp is the commit's).
#
#   make images                        bin/images/<service>.tar (docker load) and
#                                      the OCI layout bin/images/oci/ with all three
#   make image-pod-monitor             one service (or: make image SERVICE=pod-monitor)
#   make node-images                   bin/images/pause.tar and receiver.tar, the test
#                                      node's sandbox image and workload (testkit/cmd),
#                                      sdp-helmdeploy/{pause,receiver}:<tag> and :latest,
#                                      for `ctr -n k8s.io images import` (no registry there)
#   make images REGISTRY=host:5000/sdp also push each (or: make images-push REGISTRY=...)
#   IMAGES_DIR=<dir>                   where they are written
#   IMAGE_FLAGS='--latest --insecure'  more sdp-image build flags (--tag, --platform, ...)

IMAGES_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
IMAGES_DIR ?= $(IMAGES_ROOT)/bin/images
REGISTRY ?=
IMAGE_FLAGS ?=
SDP_IMAGE_BUILD = cd "$(IMAGES_ROOT)/tools" && go run ./cmd/sdp-image build \
	--root "$(IMAGES_ROOT)" --out "$(IMAGES_DIR)" --registry "$(REGISTRY)" $(IMAGE_FLAGS)

.PHONY: images images-push image node-images

images: ## the three service images as tarballs and an OCI layout in bin/images/ (REGISTRY=host[:port][/path] also pushes)
	$(SDP_IMAGE_BUILD)

images-push: ## build and push the three service images to REGISTRY
	@test -n "$(REGISTRY)" || { echo "images-push needs REGISTRY=host[:port][/path]"; exit 1; }
	$(SDP_IMAGE_BUILD)

image: ## one service's image: make image SERVICE=<service> (or make image-<service>)
	@test -n "$(SERVICE)" || { echo "image needs SERVICE=<service>"; exit 1; }
	$(SDP_IMAGE_BUILD) "$(SERVICE)"

image-%:
	$(SDP_IMAGE_BUILD) "$*"

# Tagged latest too: the node has no registry to pull a tag from, so the
# demo-receive chart's default image and containerd's sandbox_image can name
# one tag that every build of these images answers to.
node-images: ## the test node's images (pause, receiver) as bin/images/<name>.tar for ctr images import
	$(SDP_IMAGE_BUILD) --latest pause receiver
