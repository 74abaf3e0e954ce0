# Observability: a real Prometheus (Debian's package, pinned, installed by
# scripts/install-prometheus.sh), the shipped alert rules and their promtool
# tests, the dashboard's queries (tests/observability).
#   make prometheus-binaries   install prometheus and promtool (idempotent)
#   make observability-check   promtool check and unit tests of
#                              deploy/prometheus, the dashboard's PromQL and
#                              the real services scraped by a real Prometheus
#                              (etcd and kube-apiserver of testkit/localcp)

.PHONY: prometheus-binaries observability-check

prometheus-binaries: ## install Prometheus and promtool (Debian package, pinned; skipped when installed)
	"$(CURDIR)/scripts/install-prometheus.sh"

observability-check: prometheus-binaries ## promtool rule tests; dashboard queries and alert rules against the real services scraped by a real Prometheus
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes
	cd "$(CURDIR)/testkit" && SDP_REQUIRE_PROMETHEUS=1 go test -count=1 ./prometheus/
	cd "$(CURDIR)/tests" && SDP_REQUIRE_PROMETHEUS=1 SDP_REQUIRE_CONTROLPLANE=1 go test -count=1 -timeout 10m ./observability/
