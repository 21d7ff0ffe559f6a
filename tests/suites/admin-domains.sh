#!/bin/sh
# tests/suites/admin-domains.sh BUILD_DIR — /admin's domain screens and the
# visits map in a real browser (tests/browser/domains-test.mjs): Debian's
# Chromium through playwright-core against a real `shorty serve` that
# locates visits with a small GeoIP database (tests/fixtures/
# make-geoip-db.pl) and believes X-Forwarded-For from 127.0.0.1 (the test's
# visits come "from" London and Berlin). The list of domains (the default
# one and a second one), a second domain's redirects edited through the
# component and followed, the domain's visits and their map; every main
# screen is visited with no console error and no Content-Security-Policy
# violation, and no request leaves 127.0.0.1. Screenshots go to
# BUILD_DIR/temp/admin-domains-screenshots.
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:?usage: tests/suites/admin-domains.sh BUILD_DIR}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
fail() {
	echo "admin-domains: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}
[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM (scripts/install-deps installs Debian's chromium)"
TEMP=$(cd "$BUILD" && pwd)/temp
mkdir -p "$TEMP" || fail "cannot make $TEMP"
GEOIP=$TEMP/admin-domains-geoip.mmdb
perl "$HERE/../fixtures/make-geoip-db.pl" "$GEOIP" >/dev/null ||
	fail "make-geoip-db.pl failed (Debian's libmaxmind-db-writer-perl)"
SHORTY_SCREENSHOTS=$TEMP/admin-domains-screenshots
rm -rf "$SHORTY_SCREENSHOTS"
NODE_SUITE_SERVE_OPTS="--geoip-db $GEOIP --trusted-proxies 127.0.0.1"
export CHROMIUM SHORTY_SCREENSHOTS NODE_SUITE_SERVE_OPTS
exec "$HERE/lib/node-suite.sh" admin-domains "$BUILD" "$HERE/../browser" playwright-core "$HERE/../browser/domains-test.mjs"
