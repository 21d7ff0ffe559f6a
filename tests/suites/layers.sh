#!/bin/sh
# tests/suites/layers.sh BUILD_DIR — layers point down, and the fronts go
# through the service: no object of the http or cli library (libshorty_http.a,
# libshorty_cli.a) may reference a store_* symbol (nm -u): even opening,
# migrating and closing the store go through svc_store_*. Everything
# (links, visits, tags, keys, transactions, health) is reached through svc_*. Ends with "N passed, N failed" (one check per
# library).
build=${1:?usage: layers.sh BUILD_DIR}
passed=0
failed=0
for lib in shorty_http shorty_cli; do
	a="$build/lib$lib.a"
	if [ ! -f "$a" ]; then
		echo "no $a: build first"
		failed=$((failed + 1))
		continue
	fi
	bad=$(nm -u "$a" 2>/dev/null | awk '$NF ~ /^store_/ {print $NF}' | sort -u)
	if [ -n "$bad" ]; then
		echo "lib$lib.a references the store directly (go through the service):"
		echo "$bad"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
