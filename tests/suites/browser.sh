#!/bin/sh
# tests/suites/browser.sh BUILD_DIR — the web page at / in a real browser:
# Debian's Chromium (/usr/bin/chromium, from scripts/install-deps) driven by
# playwright-core (pinned in tests/browser/package-lock.json; no browser
# download) against a real `shorty serve` on 127.0.0.1. Prints the node
# test's lines and ends with its "N passed, N failed"; exits non-zero on any
# failure.
set -u

BUILD=${1:?usage: tests/suites/browser.sh BUILD_DIR}
BIN=$(cd "$BUILD" && pwd)/shorty
DIR=$(cd "$(dirname "$0")/../browser" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

fail() {
	echo "browser: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

[ -x "$BIN" ] || fail "no shorty binary in $BUILD"
[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM (scripts/install-deps installs Debian's chromium)"
command -v node >/dev/null 2>&1 || fail "node is not installed (Node.js 20 or later)"
if [ ! -d "$DIR/node_modules/playwright-core" ]; then
	(cd "$DIR" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
		fail "npm ci failed in tests/browser (is the npm registry reachable?)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shorty-browser.XXXXXX") || fail "mktemp failed"
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# no SHORTY_* setting of the caller leaks in
for v in $(env | sed -n 's/^\(SHORTY_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
DB="sqlite:$TMP/shorty.db"

KEY=$("$BIN" --db "$DB" key create --role admin --name browser-test 2>"$TMP/key.err") ||
	fail "key create failed: $(cat "$TMP/key.err")"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') ||
	fail "no free port"
URL="http://127.0.0.1:$PORT"
"$BIN" --db "$DB" serve --listen "127.0.0.1:$PORT" --threads 2 --base-url "$URL" \
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

# Screenshots stay in $BROWSER_SCREENSHOTS when the caller names a folder.
SHOTS=${BROWSER_SCREENSHOTS:-$TMP/shots}
SHORTY_URL=$URL SHORTY_KEY=$KEY SHORTY_SCREENSHOTS=$SHOTS CHROMIUM=$CHROMIUM \
	timeout 120 node "$DIR/page-test.mjs" >"$TMP/node.out" 2>&1
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
	echo "browser: node exited $NODE_RC" >&2
	extra=1
fi
if [ "$SERVE_RC" != 0 ]; then
	echo "browser: shorty serve exited $SERVE_RC after SIGTERM (want 0)" >&2
	extra=1
fi
if grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$TMP/serve.log"; then
	echo "browser: sanitizer report from shorty serve:" >&2
	cat "$TMP/serve.log" >&2
	extra=1
fi
F=$((F + extra))
echo "$P passed, $F failed"
[ "$NODE_RC" = 0 ] && [ "$F" = 0 ]
