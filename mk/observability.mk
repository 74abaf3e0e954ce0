# Observability: a real Prometheus (Debian's package, pinned, installed by
# scripts/install-prometheus.sh), the shipped alert rules and their promtool
# tests, the dashboard's queries (tests/observability).
#   make prometheus-binaries   install prometheus and promtool (idempotent)
#   make observability-check   promtool check/test of deploy/prometheus, the
#                              chart's copy of the rules, the dashboard's
#                              PromQL against a real Prometheus

.PHONY: prometheus-binaries observability-check

prometheus-binaries: ## install Prometheus and promtool (Debian package, pinned; skipped when installed)
	"$(CURDIR)/scripts/install-prometheus.sh"

observability-check: prometheus-binaries ## promtool rule tests, chart rules = shipped rules, dashboard PromQL parsed by a real Prometheus
	cd "$(CURDIR)/testkit" && SDP_REQUIRE_PROMETHEUS=1 go test -count=1 ./prometheus/
	cd "$(CURDIR)/tests" && SDP_REQUIRE_PROMETHEUS=1 go test -count=1 ./observability/
