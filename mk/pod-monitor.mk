# pod-monitor benchmark: pod status change → state entry, writes per change,
# idle and no-op writes, bursts, and resident memory of the binary, on the local
# control plane, and a pod's reason change → state entry (PodReasonToState).
# SDP_BENCH_CHANGES is the number of single changes timed per run.
#   make bench-pod-monitor [SDP_BENCH_PODS=5000] [SDP_BENCH_DEPLOYMENTS=500] [SDP_BENCH_CHANGES=300]

.PHONY: bench-pod-monitor

bench-pod-monitor: ## pod-monitor latency, writes and RSS with 5,000 pods
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes
	@mkdir -p docs/benchmarks
	@out=$$(mktemp); \
	(cd services/pod-monitor && go test -run '^$$' -bench 'PodStatusToState|PodReasonToState' -benchtime=$${SDP_BENCH_CHANGES:-300}x \
		-count=$${BENCH_COUNT:-3} -timeout 30m ./cmd/pod-monitor/) >"$$out" 2>&1 && rc=0 || rc=$$?; \
	if [ $$rc -ne 0 ]; then cat "$$out"; rm -f "$$out"; exit $$rc; fi; \
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)|bench_test.go:' "$$out" | tee "$(CURDIR)/docs/benchmarks/pod-monitor.txt"; rm -f "$$out"
