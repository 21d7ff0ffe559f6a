#!/bin/bash
# bench/ka_instructions.sh BIN N1 N2 [ENGINE] — user-space instructions per
# keep-alive redirect, independent of the machine's load (callgrind counts
# every thread: the HTTP loop and the writer's visit flush):
#   (Ir(N2 redirects) - Ir(N1 redirects)) / (N2 - N1)
# so start-up and shutdown cancel out. One HTTP thread, one cached link, 4
# keep-alive connections of bench/kaclient.py. docs/benchmarks.md, "The own
# engine's hot path", has the figures per commit.
set -eu
BIN=$1 N1=$2 N2=$3 ENG=${4:-own}
DIR=$(mktemp -d /tmp/ka-instr.XXXXXX)
HERE=$(cd "$(dirname "$0")" && pwd)
trap 'rm -rf "$DIR"' EXIT
code=$(SHORTY_DB=sqlite:$DIR/p.db "$BIN" add https://example.com/some/long/path?x=1 | sed 's|.*/||')
run() {
	local n=$1 port
	port=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
	SHORTY_DB=sqlite:$DIR/p.db SHORTY_HTTP_ENGINE=$ENG \
		valgrind --tool=callgrind --callgrind-out-file="$DIR/cg.$n" "$BIN" serve \
		--listen 127.0.0.1:"$port" --threads 1 2>"$DIR/vg.$n.log" &
	local pid=$!
	for _ in $(seq 100); do
		sleep 0.2
		curl -s -o /dev/null "http://127.0.0.1:$port/health" && break
	done
	python3 "$HERE/kaclient.py" "$port" "$n" 4 "$code" >&2
	kill -TERM $pid
	wait $pid || true
	grep -E "^(summary|totals):" "$DIR/cg.$n" | head -1 | awk '{print $2}'
}
a=$(run "$N1")
b=$(run "$N2")
echo "Ir($N1)=$a Ir($N2)=$b instructions per redirect: $(((b - a) / (N2 - N1)))"
