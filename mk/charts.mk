# Charts of the services (charts/) and their checks (tests/chartcheck):
#   make charts-check   strict lint (Helm SDK), rendering with option sets, an
#                       install of the umbrella chart into the local control
#                       plane, the RBAC matrix, the services run with the
#                       chart's rights, the dashboard's metrics served
#   make charts-lint    `helm lint --strict` of every chart with the helm CLI

CHARTS := sdp-helmdeploy-lib release-manager pod-monitor resource-monitor sdp-helmdeploy

.PHONY: charts-check charts-lint

charts-check: controlplane-binaries ## lint, render and install the charts; RBAC matrix; dashboard metrics served
	cd tests && go test -count=1 -timeout 20m ./chartcheck/

charts-lint: ## helm lint --strict of every chart (helm CLI)
	"$(CURDIR)/testkit/localcp/build.sh" helm
	@for c in $(CHARTS); do "$(SDP_CACHE_DIR)/bin/helm" lint --strict "charts/$$c" 2>&1 | grep -v 'found symbolic link'; done
