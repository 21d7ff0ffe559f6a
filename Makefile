# The README's commands. Everything real lives in CMake (CMakePresets.json)
# and scripts/; this file only names the steps.
JOBS ?= $(shell nproc)
PY := /usr/bin/python3

.PHONY: all deps build run test test-faults unit bench bench-rules clean asan release format fuzz image-test

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j$(JOBS)

release: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j$(JOBS)

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j$(JOBS)

# Starts the service on :8000 with ./data/shorty.db.
run: release
	@mkdir -p data
	./build/release/shorty serve

# Every suite (unit, integration, extra) against the ASan/UBSan build; ends
# with one line "N passed, N failed". The release build is made too, so a
# change that breaks `make run` (-Werror at -O2) cannot pass.
test: asan release
	@$(PY) scripts/run-tests build/asan

# The long crash and fault runs (docs/reliability.md): kill -9 under 64
# creators and during an import, FAULT_TRIALS times each (default 100), the
# fault-injection tests and the allocation-failure loop. Figures go to
# $(FAULT_BUILD)/faults-report.jsonl, one JSON line per test.
FAULT_TRIALS ?= 100
FAULT_BUILD ?= build/asan
test-faults: asan
	@rm -f $(FAULT_BUILD)/faults-report.jsonl
	@SHORTY_BIN=$(CURDIR)/$(FAULT_BUILD)/shorty SHORTY_BUILD=$(CURDIR)/$(FAULT_BUILD) \
	  SHORTY_CRASH_TRIALS=$(FAULT_TRIALS) SHORTY_CRASH_REPORT=$(CURDIR)/$(FAULT_BUILD)/faults-report.jsonl \
	  ASAN_OPTIONS=detect_leaks=1 $(PY) -m pytest -q -p no:cacheprovider \
	  tests/integration/test_crash.py tests/integration/test_faults.py
	@CMOCKA_MESSAGE_OUTPUT=stdout ASAN_OPTIONS=detect_leaks=1 $(FAULT_BUILD)/test_alloc_fail
	@SHORTY_FULL=1 SHORTY_BIN=$(CURDIR)/$(FAULT_BUILD)/shorty ASAN_OPTIONS=detect_leaks=1 \
	  $(PY) -m pytest -q -s -p no:cacheprovider tests/integration/test_slow_clients.py
	@cat $(FAULT_BUILD)/faults-report.jsonl

# libFuzzer harnesses (fuzz/, clang): builds the fuzz preset into build/fuzz
# and runs each harness for FUZZ_SECONDS with its corpus and dictionary
# (FUZZ_RUNS=10000000: for that many executions each instead; FUZZ_HARNESSES
# picks some); new inputs are kept in build/fuzz/corpus, crashers go to
# fuzz/crashes/.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
FUZZ_HARNESSES ?=
fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j$(JOBS)
	@FUZZ_RUNS=$(FUZZ_RUNS) fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

bench: release
	@scripts/bench
	@$(PY) bench/rules_cost.py build/release/shorty

# What redirect rules and GeoIP cost a redirect of a link without rules, in
# one run (bench/rules_cost.py; docs/benchmarks.md "Redirect rules and GeoIP
# in one run"). ROUNDS, DURATION as the script says.
bench-rules: release
	@$(PY) bench/rules_cost.py build/release/shorty

# The container image run for real (not part of `make test`): installs
# podman, runc and mmdebstrap (deploy/image/install-deps), builds the image
# offline (deploy/image/build), runs 3 containers on a PostgreSQL cluster
# behind nginx and checks them as one service; ends "image-test: N passed,
# N failed (...)". docs/deploy.md.
image-test: release
	@$(PY) scripts/image-test

clean:
	rm -rf build

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
