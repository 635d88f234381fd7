# Umbra: kubebuilder-style entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PRESET ?= default
BUILD_DIR := $(if $(filter asan,$(PRESET)),build-asan,build)
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CTEST := ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)
# The real VM traces the benchmarks replay are not in the repository (third_party/README.md):
# TRACES=DIR, default ../shared/data/traces beside the checkout.
TRACES ?= $(if $(UMBRA_SHARED),$(UMBRA_SHARED),../shared)/data/traces
traces = $(if $(wildcard $(TRACES)/*.csv.gz),$(TRACES),$(error $(TRACES): no *.csv.gz traces there; set TRACES=DIR (third_party/README.md)))
# ccache keyed on paths relative to the checkout, so that a fresh clone elsewhere (CI) reuses the
# objects of an earlier one.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= true

.PHONY: help
help: ## Show the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: setup
setup: ## Install packages, helm and the control plane (idempotent)
	@scripts/setup.sh

.PHONY: configure
configure:
	@cmake --preset $(PRESET) >/dev/null

.PHONY: build
build: configure ## Build everything (PRESET=asan for ASan+UBSan)
	@cmake --build --preset $(PRESET) -j $(JOBS)

.PHONY: test
test: setup build ## Set up, build and run every test (unit + integration), then fuzz the parsers 30 s each
	@$(CTEST)
	@scripts/fuzz.sh $(FUZZ_SECONDS)

.PHONY: test-unit
test-unit: build ## Unit tests only (no servers)
	@$(CTEST) -L unit

.PHONY: test-integration
test-integration: setup build ## Integration tests against a real control plane
	@$(CTEST) -L integration

.PHONY: fuzz
fuzz: setup ## The parsers' libFuzzer targets, FUZZ_SECONDS each (default 30; clang, tests/fuzz/)
	@scripts/fuzz.sh $(FUZZ_SECONDS)

.PHONY: tsan
tsan: setup ## ThreadSanitizer over the threaded tests and both binaries (build-tsan/; not in `make test`: ~30 min cold)
	@scripts/tsan.sh

.PHONY: test-asan
test-asan: ## Every test under ASan+UBSan
	@$(MAKE) --no-print-directory test PRESET=asan

.PHONY: lint
lint: configure ## clang-format check, clang-tidy on changed files, shellcheck
	@scripts/lint.sh

.PHONY: format
format: ## Apply clang-format to the sources
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

.PHONY: demo
demo: setup build ## The main job: control plane + umbra-sim + Prometheus + operator + examples/, until Ctrl-C
	@scripts/demo.sh

.PHONY: bench-informer
bench-informer: setup build ## Informer sync of 10,000 ConfigMaps: time and peak RSS
	@BENCH_BIN=$(BUILD_DIR)/bench/bench_informer_sync scripts/bench-informer.sh 10000

.PHONY: bench-controller
bench-controller: setup build ## 200 ShadowPlacements at once on 50 nodes: latency, RSS, API requests
	@$(BUILD_DIR)/bench/bench_controller_scale --operator $(BUILD_DIR)/operator/umbra-operator --sim $(BUILD_DIR)/src/simulator/umbra-sim

.PHONY: bench-placement
bench-placement: setup build ## Placement quality: Umbra vs the best of requests, load-packing, load-risk, day-peak, forecast-only; oracle (TRACES=dir, ARRIVALS, SEEDS)
	@scripts/bench-placement.sh $(BUILD_DIR)/src/cli/umbra $(call traces)

.PHONY: bench-scale
bench-scale: setup build ## 1,000 running VMs, then 200 ShadowPlacements at once on 50 nodes
	@$(BUILD_DIR)/bench/bench_controller_scale --operator $(BUILD_DIR)/operator/umbra-operator --sim $(BUILD_DIR)/src/simulator/umbra-sim --vms 1000

.PHONY: e2e-kind
e2e-kind: ## End to end on kind with a real KubeVirt (needs Docker and kind; see kind-config/)
	@tests/e2e/kind-e2e.sh

.PHONY: bench-features
bench-features: setup build ## Feature tensor of 10 candidates x 20 min at 15 s from a real Prometheus
	@$(BUILD_DIR)/bench/bench_feature_assembly --traces $(call traces)

.PHONY: bench-forecast
bench-forecast: build ## The forecast engine vs baselines, statsmodels, statsforecast, LightGBM (TRACES=dir), 30 min and 2 h
	@scripts/bench-forecast.sh $(BUILD_DIR)/src/cli/umbra $(call traces)

.PHONY: bench-scaling
bench-scaling: build ## Proactive scaling vs static, reactive, VPA, Autopilot; oracle (TRACES=dir)
	@scripts/bench-scaling.sh $(BUILD_DIR)/src/cli/umbra $(call traces)

.PHONY: bench-pool
bench-pool: build ## Paused shadow pools vs cold starts, a warm pool, a capacity buffer; oracle (TRACES=dir)
	@scripts/bench-pool.sh $(BUILD_DIR)/src/cli/umbra $(call traces)

.PHONY: bench-rebalance
bench-rebalance: build ## A loaded cluster's day: Umbra's migrations vs descheduler-style rebalancers; oracle (TRACES=dir)
	@scripts/bench-rebalance.sh $(BUILD_DIR)/src/cli/umbra $(call traces)

.PHONY: bench-instancetypes
bench-instancetypes: build ## KubeVirt instancetypes: Umbra's trial on mirrored requests vs the requested size, VPA-style rightsizers; oracle (TRACES=dir)
	@scripts/bench-instancetypes.sh $(BUILD_DIR)/src/cli/umbra $(call traces)

.PHONY: bench-sim
bench-sim: build ## One simulated day: 50 nodes, 500 trace-driven VMs, 15 s steps (offline)
	@$(BUILD_DIR)/bench/bench_sim_day --traces $(call traces)

.PHONY: cluster-up cluster-down
cluster-up: setup ## Start the local control plane (scripts/local-cluster.sh up)
	@scripts/local-cluster.sh up
cluster-down: ## Stop it
	@scripts/local-cluster.sh down

.PHONY: clean
clean: ## Remove build trees (caches under ~/.cache/umbra stay)
	@rm -rf build build-asan
