# sdpctl, the operator CLI (tools/sdpctl). `make build` builds it with the
# other binaries; these targets build or test it alone.

.PHONY: sdpctl test-sdpctl

sdpctl: ## build bin/sdpctl, the operator CLI for the config DB
	@mkdir -p "$(CURDIR)/bin"
	cd tools && go build -o "$(CURDIR)/bin/" ./cmd/sdpctl

test-sdpctl: ## sdpctl's tests (embedded etcd, the built binary)
	cd tools && go test $(GOTEST_FLAGS) ./sdpctl/...
