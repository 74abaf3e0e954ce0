# resource-monitor benchmark: NAD config change → resource entry rewritten
# (p50/p99 from just before the API patch to the etcd watch event), etcd
# writes per change and over 10 s idle, with 200 labelled NADs on the local
# control plane. SDP_BENCH_CHANGES is the number of changes timed per run.
# Figures and method: docs/benchmarks/resource-monitor.md.
#   make bench-resource-monitor [SDP_BENCH_CHANGES=300] [BENCH_COUNT=3]

.PHONY: bench-resource-monitor

bench-resource-monitor: ## resource-monitor NAD change → entry latency and idle writes with 200 NADs
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes
	@out=$$(mktemp); \
	(cd services/resource-monitor && go test -run '^$$' -bench 'NADChangeToEntry' -benchtime=$${SDP_BENCH_CHANGES:-300}x \
		-count=$${BENCH_COUNT:-3} -timeout 30m ./cmd/resource-monitor/) >"$$out" 2>&1 && rc=0 || rc=$$?; \
	if [ $$rc -ne 0 ]; then cat "$$out"; rm -f "$$out"; exit $$rc; fi; \
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$$out" ; rm -f "$$out"
