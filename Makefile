# The README's commands. Everything real lives in CMake (CMakePresets.json)
# and scripts/; this file only names the steps.
JOBS ?= $(shell nproc)
PY := /usr/bin/python3

.PHONY: all deps build run test unit bench clean asan release format

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

# Every suite (unit, integration) against the ASan/UBSan build; ends with
# one line "N passed, N failed".
test: asan
	@$(PY) scripts/run-tests build/asan

bench: release
	@scripts/bench

clean:
	rm -rf build

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
