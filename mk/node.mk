# The real nodes of the local control plane (testkit/localcp, RealNodes):
# kubelets with containerd and runc from Debian's packages, running the
# project's own images, and the suite that runs the Helm Deployer on them
# as a site does (tests/node).
#
#   make node-packages   containerd, runc and the CNI plugins, pinned
#                        (scripts/install-node-packages.sh)
#   make e2e-node        the umbrella chart on two real nodes: probes,
#                        in-cluster configuration, leader election across
#                        pods, real containers and their failures; figures in
#                        docs/e2e-node.md
#                        [SDP_NODE_DIR=<dir to keep the images, logs and state in>]

.PHONY: node-packages e2e-node run-cluster

node-packages: ## containerd, runc and the CNI plugins for the real nodes (Debian's packages, pinned)
	"$(CURDIR)/scripts/install-node-packages.sh"

e2e-node: node-packages controlplane-binaries $(GOTESTSUM) ## the umbrella chart from the project's images on two real nodes (kubelet, containerd): probes, leader election, real containers and their failures
	cd "$(CURDIR)/tests" && SDP_NODE=1 SDP_REQUIRE_CONTROLPLANE=1 SDP_NODE_REPORT="$(CURDIR)/docs/e2e-node.md" \
		SDP_NODE_COMMIT="$$(git -C "$(CURDIR)" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)" \
		"$(GOTESTSUM)" --format standard-verbose -- -count=1 -timeout 25m ./node/...

CLUSTER_DIR ?= $(SDP_CACHE_DIR)/cluster

run-cluster: node-packages controlplane-binaries prometheus-binaries ## the umbrella chart from the project's images on two real nodes, 2 replicas of each service, Prometheus scraping the pods, the demo deployment in a real container (Ctrl-C stops all)
	cd "$(CURDIR)/tools" && go run ./cmd/sdp-demo --cluster --root "$(CURDIR)" --dir "$(CLUSTER_DIR)" $(DEMO_FLAGS)
