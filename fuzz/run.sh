#!/bin/sh
# fuzz/run.sh SECONDS [HARNESS...] — runs the libFuzzer harnesses built in
# build/fuzz (cmake --preset fuzz), one after the other, each for SECONDS
# (or, with FUZZ_RUNS=N in the environment, for exactly N executions however
# long that takes: `make fuzz FUZZ_RUNS=10000000`, issue 12), with its seed
# corpus (fuzz/corpus/<harness>), the regression seeds
# (fuzz/regressions/<harness>) and its dictionary. New inputs go to
# $FUZZ_WORK/<harness> (default build/fuzz/corpus, kept between runs),
# crashers to fuzz/crashes/<harness>-crash-*. Prints one line per harness
#   fuzz_url: ok, 10000000 execs, 20576 exec/s, 486 s
# and a last line "N passed, N failed"; exits 1 if any harness failed.
# The runs mode runs at nice 10: the machine is shared, and a run is long.
# Used by `make fuzz` (FUZZ_SECONDS) and tests/suites/fuzz.sh (8 s each).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECS=${1:?usage: fuzz/run.sh SECONDS [HARNESS...]}
shift
BIN=${FUZZ_BUILD:-$ROOT/build/fuzz}
WORK=${FUZZ_WORK:-$BIN/corpus}
HARNESSES=${*:-fuzz_url fuzz_codec fuzz_json fuzz_import fuzz_http fuzz_http_mhd fuzz_h1}

# dictionary and -max_len per harness. fuzz_http: -detect_leaks=0, no leak
# check after each input, only the one at exit (ASAN_OPTIONS detect_leaks=1:
# the harness stops the server first, so a leak of any input or of the stop
# path still fails the run, without the input that made it). The server
# keeps what inputs make (cache entries, a visit batch until its flush), so
# many inputs end with more allocations than frees, and libFuzzer then runs
# the input again and scans the whole heap (600 MB under ASan): perf showed
# 41 % of a run's time in those scans. -reload=0: libFuzzer lists the
# working corpus directory again every second (for parallel jobs sharing
# it; none here): 6.7 % of a ten-million run's time with 3,500 inputs.
opts() {
	case $1 in
	fuzz_url) echo "-dict=$ROOT/fuzz/url.dict -max_len=10000" ;;
	fuzz_codec) echo "-max_len=128" ;;
	fuzz_json) echo "-dict=$ROOT/fuzz/json.dict -max_len=8192" ;;
	fuzz_import) echo "-dict=$ROOT/fuzz/json.dict -max_len=16384" ;;
	fuzz_http | fuzz_http_mhd) echo "-dict=$ROOT/fuzz/http.dict -max_len=16384 -detect_leaks=0 -reload=0" ;;
	fuzz_h1) echo "-dict=$ROOT/fuzz/http.dict -max_len=2048" ;;
	*) echo "" ;;
	esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# how long each harness runs: -runs=N (FUZZ_RUNS) or -max_total_time=SECONDS
if [ -n "${FUZZ_RUNS:-}" ]; then
	limit="-runs=$FUZZ_RUNS"
	nice="nice -n 10"
else
	limit="-max_total_time=$SECS"
	nice=""
fi
mkdir -p "$ROOT/fuzz/crashes"
pass=0
fail=0
for h in $HARNESSES; do
	# fuzz_http_mhd: fuzz_http over libmicrohttpd (--http-engine mhd), with
	# fuzz_http's seeds; fuzz_http itself runs the engine of our own
	bin=$h
	engine=
	[ "$h" = fuzz_http_mhd ] && bin=fuzz_http engine=mhd
	if [ ! -x "$BIN/$bin" ]; then
		echo "$h: FAIL, not built ($BIN/$bin missing)"
		fail=$((fail + 1))
		continue
	fi
	mkdir -p "$WORK/$h"
	seeds="$ROOT/fuzz/corpus/$bin"
	[ -d "$ROOT/fuzz/regressions/$bin" ] && seeds="$seeds $ROOT/fuzz/regressions/$bin"
	log="$WORK/$h.log"
	start=$(date +%s)
	# shellcheck disable=SC2046,SC2086
	FUZZ_HTTP_ENGINE=$engine $nice "$BIN/$bin" $limit -timeout=10 -rss_limit_mb=2560 -print_final_stats=1 \
		-artifact_prefix="$ROOT/fuzz/crashes/$h-" $(opts "$h") "$WORK/$h" $seeds >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	took=$(($(date +%s) - start))
	if [ $rc = 0 ]; then
		echo "$h: ok, ${execs:-?} execs, ${rate:-?} exec/s, $took s"
		pass=$((pass + 1))
	else
		echo "$h: FAIL (exit $rc), ${execs:-?} execs, $took s; crasher in fuzz/crashes/, log $log:"
		grep -E 'ERROR:|SUMMARY:|^fuzz_[a-z]+: |Test unit written|runtime error' "$log" | head -20
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
