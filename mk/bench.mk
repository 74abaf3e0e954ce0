# make bench: every benchmark in one run, then docs/benchmarks.md and its
# plots (docs/benchmarks/*.svg) from what the run measured.
#
#   make bench            the three services' benchmarks (bench-release-manager,
#                         bench-pod-monitor, bench-resource-monitor), then
#                         bench-restart and bench-idle, then bench-report
#   make bench-restart    release-manager restart with SDP_BENCH_RESTART_DEPLOYMENTS
#                         (1,000) deployments in sync, SDP_BENCH_RESTARTS (3) times
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
BENCH_OUTPUTS := release-manager.txt pod-monitor.txt resource-monitor.txt restart.txt idle.txt load.txt

.PHONY: bench bench-restart bench-idle bench-report

bench: ## every benchmark (three services, restart with 1,000 in sync, idle), then docs/benchmarks.md with plots
	@mkdir -p "$(BENCH_OUT)"
	@# Apart from the line below: make -n runs lines that call $$(MAKE).
	@cd "$(BENCH_OUT)" && rm -f $(BENCH_OUTPUTS)
	@# make -n runs lines that call $$(MAKE) (this one), so it must not
	@# write here then: its sub-makes only print, and what they print is no
	@# benchmark output.
	@if [ -n "$(BENCH_DRY_RUN)" ]; then echo "(make -n: bench would run each step above, then bench-report)"; exit 0; fi; \
	started=$$(date -u +%Y-%m-%dT%H:%M:%SZ); loadavg=$$(cat /proc/loadavg); failed=""; \
	for t in bench-release-manager bench-pod-monitor bench-resource-monitor bench-restart bench-idle; do \
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

bench-restart: ## release-manager restart with 1,000 deployments in sync: time to ready and Helm actions (must be 0)
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes
	@mkdir -p "$(BENCH_OUT)"
	@out=$$(mktemp); \
	if ! (cd services/release-manager && go test -run '^$$' -bench '^BenchmarkRestartInSync$$' -benchtime=$${SDP_BENCH_RESTARTS:-3}x \
		-count=1 -timeout 30m ./cmd/release-manager/) >"$$out" 2>&1; then cat "$$out"; rm -f "$$out"; exit 1; fi; \
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)|bench_test.go:' "$$out" | tee "$(BENCH_OUT)/restart.txt"; rm -f "$$out"

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
