#!/bin/sh
# tests/suites/sdk.sh BUILD_DIR — the official Shlink JS SDK
# (@shlinkio/shlink-js-sdk, pinned in tests/sdk/package-lock.json) drives a
# real `shorty serve` through its REST API. Ends with "N passed, N failed";
# exits non-zero on any failure (lib/node-suite.sh does the work).
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/lib/node-suite.sh" sdk "${1:?usage: tests/suites/sdk.sh BUILD_DIR}" \
	"$HERE/../sdk" @shlinkio/shlink-js-sdk "$HERE/../sdk/sdk-test.mjs"
