# sdpctl, the operator CLI (module sdpctl/, go install-able on its own).
# `make build` builds it with the other binaries; these targets build or test
# it alone.

.PHONY: sdpctl test-sdpctl

sdpctl: ## build bin/sdpctl, the operator CLI for the config DB
	@mkdir -p "$(CURDIR)/bin"
	cd sdpctl && go build -o "$(CURDIR)/bin/" .

test-sdpctl: ## sdpctl's tests (embedded etcd, the built binary)
	cd sdpctl && go test $(GOTEST_FLAGS) ./...
