#!/bin/sh
# tests/suites/banned.sh BUILD_DIR — curl's habit: functions that have no
# bound (strcpy, strcat, sprintf, vsprintf, gets) or hide errors and state
# (atoi, atol, strtok) never appear in the C sources. Ends with
# "N passed, N failed" (one check per function).
cd "$(dirname "$0")/../.." || exit 1
passed=0
failed=0
for fn in strcpy strcat sprintf vsprintf gets atoi atol atoll strtok; do
	hits=$(grep -rnE "(^|[^_a-zA-Z0-9])$fn[[:space:]]*\(" src include fuzz tests/unit tests/faults \
		--include='*.c' --include='*.h' | grep -v '^\s*//' || true)
	if [ -n "$hits" ]; then
		echo "banned function $fn:"
		echo "$hits"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
