# pod-monitor benchmark: pod status change → state entry, writes per change,
# idle writes and resident memory of the binary, on the local control plane.
#   make bench-pod-monitor [SDP_BENCH_PODS=5000] [SDP_BENCH_DEPLOYMENTS=500] [SDP_BENCH_CHANGES=300]

.PHONY: bench-pod-monitor

bench-pod-monitor: ## pod-monitor latency, writes and RSS with 5,000 pods
	"$(CURDIR)/tools/localcp/build.sh" etcd kubernetes
	@mkdir -p docs/benchmarks
	cd services/pod-monitor && go test -run '^$$' -bench 'PodStatusToState' -benchtime=1x -count=$${BENCH_COUNT:-3} -timeout 30m ./cmd/pod-monitor/ \
		| grep -E '^(Benchmark|goos|goarch|cpu|pkg)' | tee "$(CURDIR)/docs/benchmarks/pod-monitor.txt"
