# release-manager benchmarks: N entries in one etcd transaction → N releases
# deployed (InstallN), their values changed → revision 2 deployed (UpgradeN),
# their entries deleted → releases and state entries gone (UninstallN), each
# against the client-go floor and a sequential helm CLI loop, with the API
# calls per release by verb; and what a script waits for (ScriptWait: entry →
# deployed and → every pod RUNNING, with the pod-monitor binary and kwok).
#   make bench-release-manager [SDP_BENCH_N=60,500] [SDP_BENCH_CLI_N=60] [BENCH_COUNT=3]
#   make bench-wait [SDP_BENCH_WAIT_SINGLES=50] [SDP_BENCH_WAIT_BURSTS=3]

#   make bench-drift [SDP_BENCH_DRIFT_RELEASES=100] [BENCH_COUNT=3]: objects of
#     releases deleted → made again, changed → reported (DriftRestore)

.PHONY: bench-release-manager bench-wait bench-drift

bench-release-manager: ## release-manager install, upgrade and uninstall throughput vs helm CLI loop and client-go floor, API calls per release
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes helm
	@mkdir -p docs/benchmarks
	@out=$$(mktemp); \
	(cd services/release-manager && go test -run '^$$' -bench '^Benchmark(InstallN|UpgradeN|UninstallN)$$' -benchtime=1x -count=$${BENCH_COUNT:-3} \
		-timeout 90m ./internal/app/) >"$$out" 2>&1 && rc=0 || rc=$$?; \
	if [ $$rc -ne 0 ]; then cat "$$out"; rm -f "$$out"; exit $$rc; fi; \
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$$out" | tee "$(CURDIR)/docs/benchmarks/release-manager.txt"; rm -f "$$out"

bench-wait: ## what a script waits for: entry → deployed and → every pod RUNNING, one entry into an idle deployer and bursts of 60
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes kwok
	@mkdir -p docs/benchmarks
	@out=$$(mktemp); \
	(cd services/release-manager && go test -run '^$$' -bench '^BenchmarkScriptWait$$' -benchtime=1x -count=1 -timeout 30m ./internal/app/) >"$$out" 2>&1 && rc=0 || rc=$$?; \
	if [ $$rc -ne 0 ]; then cat "$$out"; rm -f "$$out"; exit $$rc; fi; \
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$$out" | tee "$(CURDIR)/docs/benchmarks/wait.txt"; rm -f "$$out"

bench-drift: ## drift: 100 objects of 100 releases deleted by hand → made again, changed → reported; new Helm revisions
	"$(CURDIR)/testkit/localcp/build.sh" etcd kubernetes
	@mkdir -p docs/benchmarks
	@out=$$(mktemp); \
	(cd services/release-manager && go test -run '^$$' -bench '^BenchmarkDriftRestore$$' -benchtime=100x -count=$${BENCH_COUNT:-3} -timeout 30m ./internal/app/) >"$$out" 2>&1 && rc=0 || rc=$$?; \
	if [ $$rc -ne 0 ]; then cat "$$out"; rm -f "$$out"; exit $$rc; fi; \
	grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$$out" | tee "$(CURDIR)/docs/benchmarks/drift.txt"; rm -f "$$out"
