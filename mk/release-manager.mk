# release-manager benchmark: N entries in one etcd transaction → N releases
# deployed, against the client-go floor and a sequential helm CLI loop.
#   make bench-release-manager [SDP_BENCH_N=60,500] [SDP_BENCH_CLI_N=60]

.PHONY: bench-release-manager

bench-release-manager: ## release-manager install throughput vs helm CLI loop and client-go floor
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes helm
	@mkdir -p docs/benchmarks
	cd services/release-manager && go test -run '^$$' -bench 'InstallN' -benchtime=1x -count=$${BENCH_COUNT:-3} -timeout 60m ./internal/app/ \
		| grep -E '^(Benchmark|goos|goarch|cpu|pkg)' | tee "$(CURDIR)/docs/benchmarks/release-manager.txt"
