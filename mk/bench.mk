# make bench: every benchmark in one run, then docs/benchmarks.md and its
# plots (docs/benchmarks/*.svg) from what the run measured.
#
#   make bench            the three services' benchmarks (bench-release-manager:
#                         install, upgrade, uninstall; bench-wait,
#                         bench-pod-monitor, bench-resource-monitor), then
#                         bench-restart, bench-memory and bench-idle, then
#                         bench-report
#   make bench-restart    release-manager restart with SDP_BENCH_RESTART_DEPLOYMENTS
#                         (5,000) deployments in sync, SDP_BENCH_RESTARTS (3) times
#   make bench-memory     RSS of the built binaries at scale: the release-manager
#                         at SDP_BENCH_MEMORY_DEPLOYMENTS (0,1000,5000) deployments
#                         in sync, with a heap profile summary at 1,000
#                         (docs/benchmarks/heap-release-manager-after.txt), the
#                         pod-monitor at SDP_BENCH_MEMORY_PODS (20,000) pods, the
#                         resource-monitor at SDP_BENCH_MEMORY_NADS (2,000) NADs
#   make bench-idle       the three services idle for SDP_BENCH_IDLE (60s) with
#                         SDP_BENCH_IDLE_DEPLOYMENTS (1,000) deployments and
#                         SDP_BENCH_IDLE_NADS (200) NADs
#   make bench-report     docs/benchmarks.md from the outputs in docs/benchmarks/
#
# Sizes of the service benchmarks: see their .mk files (SDP_BENCH_N,
# SDP_BENCH_PODS, SDP_BENCH_CHANGES, BENCH_COUNT, ...). A step that fails
# leaves no output file: the report then says it did not run, and make
# bench fails after writing the report, so that no figure of an earlier run
# is passed off as this run's.

BENCH_OUT ?= $(CURDIR)/docs/benchmarks
BENCH_DOC ?= $(CURDIR)/docs/benchmarks.md
# Start time and load average of the run, given by bench to bench-report.
BENCH_STARTED ?=
BENCH_LOADAVG ?=
# The code measured. Expanded with bench's recipe, before its first line
# runs, so before the run rewrites the outputs (tracked files) and the tree
# turns "dirty" by its own doing.
BENCH_DRY_RUN = $(findstring n,$(firstword -$(MAKEFLAGS)))
BENCH_COMMIT ?= $(shell git -C "$(CURDIR)" describe --always --dirty --abbrev=12 2>/dev/null)
BENCH_OUTPUTS := release-manager.txt wait.txt drift.txt pod-monitor.txt resource-monitor.txt restart.txt memory.txt idle.txt load.txt
# The heap profile summary bench-memory writes: the code measured is the
# code after issue 14's memory cuts (the "before" file stays as committed).
BENCH_HEAP_TOP ?= $(BENCH_OUT)/heap-release-manager-after.txt

.PHONY: bench bench-restart bench-memory bench-idle bench-report

bench: ## every benchmark (three services, script waits, restart with 5,000 in sync, memory at scale, idle), then docs/benchmarks.md with plots
	@mkdir -p "$(BENCH_OUT)"
	@# Apart from the line below: make -n runs lines that call $$(MAKE).
	@cd "$(BENCH_OUT)" && rm -f $(BENCH_OUTPUTS)
	@# make -n runs lines that call $$(MAKE) (this one), so it must not
	@# write here then: its sub-makes only print, and what they print is no
	@# benchmark output.
	@if [ -n "$(BENCH_DRY_RUN)" ]; then echo "(make -n: bench would run each step above, then bench-report)"; exit 0; fi; \
	started=$$(date -u +%Y-%m-%dT%H:%M:%SZ); loadavg=$$(cat /proc/loadavg); failed=""; \
	for t in bench-release-manager bench-wait bench-drift bench-pod-monitor bench-resource-monitor bench-restart bench-memory bench-idle; do \
		echo "== $$t ($$(date -u +%H:%M:%S), load $$(cut -d' ' -f1-3 /proc/loadavg))"; \
		echo "$$t $$(date -u +%H:%M:%S) $$(cut -d' ' -f1-3 /proc/loadavg)" >>"$(BENCH_OUT)/load.txt"; \
		if [ "$$t" = bench-resource-monitor ]; then \
			out=$$(mktemp); \
			if $(MAKE) --no-print-directory "$$t" | tee "$$out"; then \
				grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$$out" >"$(BENCH_OUT)/resource-monitor.txt" || failed="$$failed $$t"; \
			else failed="$$failed $$t"; fi; \
			rm -f "$$out"; \
		elif ! $(MAKE) --no-print-directory "$$t"; then \
			failed="$$failed $$t"; \
		fi; \
		case "$$failed" in *"$$t"*) f=$$(echo "$$t" | sed 's/^bench-//'); rm -f "$(BENCH_OUT)/$$f.txt";; esac; \
	done; \
	echo "end $$(date -u +%H:%M:%S) $$(cut -d' ' -f1-3 /proc/loadavg)" >>"$(BENCH_OUT)/load.txt"; \
	$(MAKE) --no-print-directory bench-report BENCH_STARTED="$$started" BENCH_LOADAVG="$$loadavg" BENCH_COMMIT="$(BENCH_COMMIT)"; \
	if [ -n "$$failed" ]; then echo "make bench: failed:$$failed (the report says they did not run)"; exit 1; fi

bench-restart: ## release-manager restart with 5,000 deployments in sync: time to ready, Helm actions and state rewrites (must be 0)
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes
	@mkdir -p "$(BENCH_OUT)"
	@out=$$(mktemp); \
	if ! (cd services/release-manager && go test -run '^$$' -bench '^BenchmarkRestartInSync$$' -benchtime=$${SDP_BENCH_RESTARTS:-3}x \
		-count=1 -timeout 30m ./cmd/release-manager/) >"$$out" 2>&1; then cat "$$out"; rm -f "$$out"; exit 1; fi; \
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)|bench_test.go:' "$$out" | tee "$(BENCH_OUT)/restart.txt"; rm -f "$$out"

bench-memory: ## RSS of the built binaries at scale: release-manager 0/1,000/5,000 deployments (heap profile at 1,000), pod-monitor 20,000 pods, resource-monitor 2,000 NADs
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes
	@mkdir -p "$(BENCH_OUT)"
	@out=$$(mktemp); \
	if ! (cd services/release-manager && SDP_BENCH_HEAP_TOP="$(BENCH_HEAP_TOP)" go test -run '^$$' -bench '^BenchmarkMemoryInSync$$' -benchtime=1x \
			-count=1 -timeout 60m ./cmd/release-manager/ && \
		cd ../pod-monitor && go test -run '^$$' -bench '^BenchmarkPodMemory$$' -benchtime=1x -count=1 -timeout 30m ./cmd/pod-monitor/ && \
		cd ../resource-monitor && go test -run '^$$' -bench '^BenchmarkNADMemory$$' -benchtime=1x -count=1 -timeout 30m ./cmd/resource-monitor/) >"$$out" 2>&1; then \
		cat "$$out"; rm -f "$$out"; exit 1; fi; \
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)|bench_test.go:' "$$out" | tee "$(BENCH_OUT)/memory.txt"; rm -f "$$out"

bench-idle: ## the three services idle 60 s with 1,000 deployments and 200 NADs: CPU s/min each, config DB writes/min
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes
	@mkdir -p "$(BENCH_OUT)"
	@out=$$(mktemp); \
	if ! (cd tests && go test -run '^$$' -bench '^BenchmarkIdle$$' -benchtime=1x -count=1 -timeout 30m ./benchidle/) >"$$out" 2>&1; then \
		cat "$$out"; rm -f "$$out"; exit 1; fi; \
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)|bench_test.go:' "$$out" | tee "$(BENCH_OUT)/idle.txt"; rm -f "$$out"

bench-report: ## docs/benchmarks.md and docs/benchmarks/*.svg from the benchmark outputs in docs/benchmarks/
	cd tools && go run ./cmd/sdp-benchreport --dir "$(BENCH_OUT)" --out "$(BENCH_DOC)" \
		--started "$(BENCH_STARTED)" --load-start "$(BENCH_LOADAVG)" \
		--commit "$(BENCH_COMMIT)"
