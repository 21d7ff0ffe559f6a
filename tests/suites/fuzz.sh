#!/bin/sh
# tests/suites/fuzz.sh BUILD_DIR — the libFuzzer harnesses (fuzz/), briefly:
# builds the fuzz preset (clang, into build/fuzz; BUILD_DIR is not used),
# then runs every harness for 8 seconds over its seed corpus and its
# regression seeds (fuzz/regressions/, crashers found and fixed), starting
# from an empty working corpus each time. One line per harness, then
# "N passed, N failed"; a harness that crashes, leaks or cannot be built
# counts as failed.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HARNESSES="fuzz_url fuzz_codec fuzz_json fuzz_import fuzz_http fuzz_http_mhd fuzz_h1"
N=$(echo $HARNESSES | wc -w)

fail_all() {
	echo "fuzz: $*" >&2
	echo "0 passed, $N failed"
	exit 1
}

command -v clang >/dev/null 2>&1 || fail_all "clang is not installed (apt-get install clang libclang-rt-14-dev)"
cd "$ROOT" || fail_all "no repository at $ROOT"
LOG=$(mktemp "${TMPDIR:-/tmp}/shorty-fuzz-build.XXXXXX") || fail_all "mktemp failed"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shorty-fuzz.XXXXXX") || fail_all "mktemp failed"
trap 'rm -rf "$WORK" "$LOG"' EXIT INT TERM
if ! { cmake --preset fuzz && cmake --build --preset fuzz -j"$(nproc)"; } >"$LOG" 2>&1; then
	tail -30 "$LOG" >&2
	fail_all "the fuzz preset does not build"
fi
FUZZ_WORK=$WORK exec "$ROOT/fuzz/run.sh" "${FUZZ_TEST_SECONDS:-8}" $HARNESSES
