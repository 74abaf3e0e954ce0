# Local Kubernetes control plane for tests and the demo (testkit/localcp).
# Included by the top-level Makefile.
#
#   make controlplane-binaries   build etcd, kube-apiserver, kube-controller-manager,
#                                kube-scheduler and kwok from source into
#                                $(SDP_CACHE_DIR)/bin (cached; ~11 min cold on 2 cores)
#   make controlplane-up         run them all until Ctrl-C; writes
#                                $(CONTROLPLANE_DIR)/kubeconfig and $(CONTROLPLANE_DIR)/env

# Repository root, from where this fragment lives (mk/ under the root).
CONTROLPLANE_ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))/..

GO ?= go
SDP_CACHE_DIR ?= $(HOME)/.cache/sdp-helmdeploy
CONTROLPLANE_DIR ?= $(SDP_CACHE_DIR)/run
CONTROLPLANE_BUILD ?= $(CONTROLPLANE_ROOT)/testkit/localcp/build.sh
# Extra flags for `localcp up`, e.g. CONTROLPLANE_UP_FLAGS=-v
CONTROLPLANE_UP_FLAGS ?=

export SDP_CACHE_DIR

.PHONY: controlplane-binaries controlplane-up

controlplane-binaries: ## build etcd, kube-apiserver/-controller-manager/-scheduler, kwok (cached in $SDP_CACHE_DIR/bin)
	GO="$(GO)" "$(CONTROLPLANE_BUILD)"

controlplane-up: ## run the local control plane (all components) until Ctrl-C; writes $CONTROLPLANE_DIR/{kubeconfig,env}
	cd "$(CONTROLPLANE_ROOT)/tools" && $(GO) run ./cmd/localcp up --all --dir "$(CONTROLPLANE_DIR)" $(CONTROLPLANE_UP_FLAGS)
