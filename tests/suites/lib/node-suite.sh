#!/bin/sh
# tests/suites/lib/node-suite.sh NAME BUILD_DIR NODE_DIR MODULE TEST_FILE
#
# Runs a Node.js test against a real `shorty serve`: the shared body of the
# suites that drive shorty with a client nobody here wrote (sdk.sh: the
# Shlink JS SDK; browser.sh: Chromium through playwright-core).
#
#   NODE_DIR   folder with package.json + package-lock.json; `npm ci` runs
#              there when node_modules/MODULE is missing
#   TEST_FILE  the .mjs to run, given SHORTY_URL and SHORTY_KEY (an admin
#              key) in its environment, plus whatever the caller exported
#
#   NODE_SUITE_SERVE_OPTS (environment, optional): more global options for
#              `shorty serve` (split on spaces), e.g. --geoip-db FILE
#
# Starts shorty on a free 127.0.0.1 port with a temp SQLite store, runs the
# test (120 s at most), stops shorty with SIGTERM (it must exit 0 and its log
# must hold no sanitizer report), prints the test's output and ends with
# "N passed, N failed"; exits non-zero on any failure.
set -u

NAME=${1:?usage: node-suite.sh NAME BUILD_DIR NODE_DIR MODULE TEST_FILE}
BUILD=${2:?}
NODE_DIR=${3:?}
MODULE=${4:?}
TEST_FILE=${5:?}
BIN=$(cd "$BUILD" && pwd)/shorty

fail() {
	echo "$NAME: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

[ -x "$BIN" ] || fail "no shorty binary in $BUILD"
command -v node >/dev/null 2>&1 || fail "node is not installed (Node.js 20 or later)"
if [ ! -d "$NODE_DIR/node_modules/$MODULE" ]; then
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
		fail "npm ci failed in $NODE_DIR (is the npm registry reachable?)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shorty-$NAME.XXXXXX") || fail "mktemp failed"
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# no SHORTY_* setting of the caller leaks into shorty (the node test keeps
# the caller's environment: it may carry the test's own settings)
SCRUB=$(env | sed -n 's/^\(SHORTY_[A-Z_]*\)=.*/-u \1/p')
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
DB="sqlite:$TMP/shorty.db"

# shellcheck disable=SC2086
KEY=$(env $SCRUB "$BIN" --db "$DB" key create --role admin --name "$NAME-test" 2>"$TMP/key.err") ||
	fail "key create failed: $(cat "$TMP/key.err")"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') ||
	fail "no free port"
URL="http://127.0.0.1:$PORT"
# shellcheck disable=SC2086
env $SCRUB "$BIN" --db "$DB" ${NODE_SUITE_SERVE_OPTS:-} serve --listen "127.0.0.1:$PORT" --threads 2 --base-url "$URL" \
	>"$TMP/serve.log" 2>&1 &
PID=$!

up=0
i=0
while [ $i -lt 150 ]; do
	kill -0 "$PID" 2>/dev/null || break
	if python3 -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('$URL/health', timeout=1).status == 200 else 1)" 2>/dev/null; then
		up=1
		break
	fi
	sleep 0.1
	i=$((i + 1))
done
[ $up = 1 ] || fail "shorty serve did not come up: $(tail -20 "$TMP/serve.log")"

SHORTY_URL=$URL SHORTY_KEY=$KEY timeout 120 node "$TEST_FILE" >"$TMP/node.out" 2>&1
NODE_RC=$?
cat "$TMP/node.out"

kill -TERM "$PID"
wait "$PID"
SERVE_RC=$?
PID=
COUNTS=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$TMP/node.out" | tail -1)
[ -n "$COUNTS" ] || COUNTS="0 passed, 1 failed"
P=${COUNTS%% passed*}
F=${COUNTS#*passed, }
F=${F%% failed*}

extra=0
if [ "$NODE_RC" != 0 ] && [ "$F" = 0 ]; then
	echo "$NAME: node exited $NODE_RC" >&2
	extra=1
fi
if [ "$SERVE_RC" != 0 ]; then
	echo "$NAME: shorty serve exited $SERVE_RC after SIGTERM (want 0)" >&2
	extra=1
fi
if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$TMP/serve.log"; then
	echo "$NAME: sanitizer report from shorty serve:" >&2
	cat "$TMP/serve.log" >&2
	extra=1
fi
F=$((F + extra))
echo "$P passed, $F failed"
[ "$F" = 0 ]
