# The front door. `make run` and `make test` are the whole set-up on a fresh
# machine with Go; everything else the project needs is built or fetched,
# pinned, by the targets below.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

MODULES  := shared services/release-manager services/pod-monitor services/resource-monitor testkit testkit/etcdtest tests sdpctl tools
SERVICES := release-manager pod-monitor resource-monitor
BIN      := $(CURDIR)/bin
# Slow builds (Kubernetes binaries, etcd, kwok) are cached here, outside the
# clone, so that every clone and CI run on the machine shares them.
export SDP_CACHE_DIR ?= $(HOME)/.cache/sdp-helmdeploy
FUZZTIME ?= 5s
GOTEST_FLAGS ?= -count=1 -timeout 20m

-include mk/*.mk

.PHONY: build test test-unit fuzz lint verify-fmt fix-fmt vet tidy verify-tidy run clean help

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

build: ## build every binary into bin/
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do (cd services/$$s && go build -o $(BIN)/ ./cmd/...); done
	@if find tools/cmd -name '*.go' 2>/dev/null | grep -q .; then (cd tools && go build -o $(BIN)/ ./cmd/...); fi
	@(cd sdpctl && go build -o $(BIN)/ .)
	@ls $(BIN)

test: controlplane-binaries prometheus-binaries node-packages lint test-unit fuzz e2e e2e-node ## everything CI runs: lint, every module's tests (real etcd and control plane; charts, RBAC, images, bad-input catalogue), short fuzzing, the end-to-end and chaos run, the real-node suite

test-unit: ## every module's tests
	@for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...); done

fuzz: ## run each fuzz target for FUZZTIME
	@scripts/fuzz.sh $(FUZZTIME) $(MODULES)

lint: verify-fmt vet verify-tidy ## gofmt, go vet and go mod tidy -diff on every module

verify-fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed (make fix-fmt):"; echo "$$out"; exit 1; fi

fix-fmt:
	gofmt -w $(MODULES)

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...); done

verify-tidy:
	@for m in $(MODULES); do (cd $$m && go mod tidy -diff) || { echo "go.mod of $$m needs make tidy"; exit 1; }; done

tidy:
	@for m in $(MODULES); do (cd $$m && go mod tidy); done

DEMO_DIR ?= $(SDP_CACHE_DIR)/demo
DEMO_FLAGS ?=

run: build controlplane-binaries prometheus-binaries ## local etcd, control plane, the three services and Prometheus scraping them, with a demo deployment (Ctrl-C stops all)
	$(BIN)/sdp-demo --root $(CURDIR) --bin $(BIN) --dir $(DEMO_DIR) $(DEMO_FLAGS)

clean:
	rm -rf $(BIN)
