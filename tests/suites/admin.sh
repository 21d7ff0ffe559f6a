#!/bin/sh
# tests/suites/admin.sh BUILD_DIR — /admin (Shlink's web component, admin/)
# in a real browser: Debian's Chromium driven by playwright-core (pinned in
# tests/browser/package-lock.json) against a real `shorty serve` on
# 127.0.0.1 (tests/browser/admin-test.mjs: log in, create, list, edit tags,
# QR code, visits, rename a tag, delete; no request leaves 127.0.0.1).
# The screenshots of the main screens are kept in
# BUILD_DIR/temp/admin-screenshots (build/ is not in git).
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:?usage: tests/suites/admin.sh BUILD_DIR}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
	echo "admin: no Chromium at $CHROMIUM (scripts/install-deps installs Debian's chromium)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
SHORTY_SCREENSHOTS=$(cd "$BUILD" && pwd)/temp/admin-screenshots
rm -rf "$SHORTY_SCREENSHOTS"
export CHROMIUM SHORTY_SCREENSHOTS
exec "$HERE/lib/node-suite.sh" admin "$BUILD" "$HERE/../browser" playwright-core "$HERE/../browser/admin-test.mjs"
