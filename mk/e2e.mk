# End-to-end and chaos test of the whole system (tests/e2e): the three
# services, two replicas each, run with the settings the umbrella chart
# renders, against a config DB of 3 etcd members (each behind a proxy), the
# local control plane (etcd, kube-apiserver with an audit log, controller
# manager, scheduler, kwok) and a chart repository; driven only through the
# config DB as a processing script does. The chaos part churns 300
# deployments while killing replicas and leaders, freezing each service's
# leader for twice its lease (SIGSTOP), restarting the config DB, killing
# one member and cutting another off, stopping the API server for 30 s (and
# freezing it for 15 s) and compacting etcd past the services' revision,
# then checks exact convergence (target 10 s after the last fault, limit 20 s), and proves
# from the audit log and etcd's revisions that no paused leader acted after
# its term ended. A real Prometheus scrapes every replica (job per
# service) and evaluates the alert rules with their durations cut 60-fold:
# the dashboard's panel queries must all return series after the happy
# path and after the chaos run, the alerts the faults must raise must fire,
# and all must be quiet after convergence. Figures, the alerts that fired
# and the dashboard check are written to docs/e2e.md. A run takes ~5 min
# once the control plane binaries are built. TestE2E skips unless SDP_E2E=1,
# so the module's plain go test runs only the package's unit tests.
#   make e2e [SDP_E2E_SEED=<n>] [SDP_E2E_DIR=<dir to keep logs and the TSDB in>]
#            [SDP_E2E_CHURN=<how long the churn lasts, a Go duration; 90s>]
#            [SDP_E2E_DASHBOARD=<a dashboard JSON to check instead of deploy/grafana's>]

#
# The run goes through gotestsum, which ends a failed run's log with each
# failed test and its own output: a CI log that keeps only its end still
# says what broke.

.PHONY: e2e gotestsum

# Every run's outcome is added here, shared by the clones on the machine;
# docs/e2e.md gives the convergence over them.
SDP_E2E_HISTORY ?= $(SDP_CACHE_DIR)/e2e-runs.tsv

GOTESTSUM_VERSION := v1.13.0
GOTESTSUM := $(SDP_CACHE_DIR)/bin/gotestsum-$(GOTESTSUM_VERSION)

gotestsum: $(GOTESTSUM) ## install gotestsum (pinned, from the Go module proxy)

$(GOTESTSUM):
	mkdir -p "$(SDP_CACHE_DIR)/gotestsum-$(GOTESTSUM_VERSION)" "$(dir $@)"
	GOWORK=off GOBIN="$(SDP_CACHE_DIR)/gotestsum-$(GOTESTSUM_VERSION)" go install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)
	mv "$(SDP_CACHE_DIR)/gotestsum-$(GOTESTSUM_VERSION)/gotestsum" "$@"

e2e: prometheus-binaries $(GOTESTSUM) ## whole system as the charts deploy it, driven through the config DB, with chaos; figures in docs/e2e.md
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes kwok
	mkdir -p "$(SDP_CACHE_DIR)"
	cd "$(CURDIR)/tests" && SDP_E2E=1 SDP_REQUIRE_CONTROLPLANE=1 SDP_E2E_REPORT="$(CURDIR)/docs/e2e.md" \
		SDP_E2E_HISTORY="$(SDP_E2E_HISTORY)" SDP_E2E_COMMIT="$$(git -C "$(CURDIR)" describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)" \
		"$(GOTESTSUM)" --format standard-verbose -- -count=1 -timeout 15m ./e2e/...
