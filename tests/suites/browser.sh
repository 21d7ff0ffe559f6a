#!/bin/sh
# tests/suites/browser.sh BUILD_DIR — the web page at / in a real browser:
# Debian's Chromium (/usr/bin/chromium, from scripts/install-deps) driven by
# playwright-core (pinned in tests/browser/package-lock.json; no browser
# download) against a real `shorty serve` on 127.0.0.1. Ends with "N passed,
# N failed"; exits non-zero on any failure (lib/node-suite.sh does the work).
HERE=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	echo "browser: no Chromium at $CHROMIUM (scripts/install-deps installs Debian's chromium)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
# Screenshots stay in $BROWSER_SCREENSHOTS when the caller names a folder
# (else in a temp folder the test removes).
export CHROMIUM
if [ -n "${BROWSER_SCREENSHOTS:-}" ]; then
	SHORTY_SCREENSHOTS=$BROWSER_SCREENSHOTS
	export SHORTY_SCREENSHOTS
fi
exec "$HERE/lib/node-suite.sh" browser "${1:?usage: tests/suites/browser.sh BUILD_DIR}" \
	"$HERE/../browser" playwright-core "$HERE/../browser/page-test.mjs"
