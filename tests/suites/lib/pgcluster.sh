#!/bin/sh
# tests/suites/lib/pgcluster.sh start DIR | stop DIR | crash DIR | restart DIR
#
# A throwaway PostgreSQL 15 cluster for the tests (issue 8): Debian's
# initdb and pg_ctl run as the `postgres` user (they refuse root) in DIR,
# which this script creates and gives to postgres; the server listens on
# 127.0.0.1 on a free port and on a socket in DIR, with trust
# authentication for the user `shorty` and fsync off (functional tests
# only). `start` prints the libpq URI of its database `shorty`
# (postgres://shorty@127.0.0.1:PORT/shorty); `stop` stops it (immediate)
# and removes DIR. `crash` stops it as a crash would (pg_ctl stop -m
# immediate) and keeps DIR; `restart` starts it again on the same port (the
# fault tests). Every failure ends with one line on stderr and exit 1.
# PGCLUSTER_OPTS adds server options (scripts/bench: "-c fsync=on", as
# durable creates are measured there).
set -eu
extra=${PGCLUSTER_OPTS:-}
cmd=${1:?usage: pgcluster.sh start|stop|crash|restart DIR}
dir=${2:?usage: pgcluster.sh start|stop|crash|restart DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || {
	echo "pgcluster: no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): run scripts/install-deps" >&2
	exit 1
}
as_pg() { runuser -u postgres -- "$@"; }

case "$cmd" in
start)
	mkdir -p "$dir"
	chown postgres: "$dir"
	chmod 700 "$dir"
	as_pg "$bin/initdb" -D "$dir/data" -A trust -U shorty --no-sync -E UTF8 \
		--locale=C >"$dir/initdb.log" 2>&1 || {
		echo "pgcluster: initdb failed: $(tail -n 1 "$dir/initdb.log")" >&2
		exit 1
	}
	# a free port: bind(0), then start on it (a second try if another
	# process took it meanwhile)
	for try in 1 2 3; do
		port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 $extra" \
			start >/dev/null 2>&1; then
			echo "$port" >"$dir/port"
			as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U shorty shorty || {
				echo "pgcluster: createdb failed" >&2
				exit 1
			}
			echo "postgres://shorty@127.0.0.1:$port/shorty"
			exit 0
		fi
	done
	echo "pgcluster: pg_ctl start failed: $(tail -n 1 "$dir/server.log" 2>/dev/null)" >&2
	exit 1
	;;
crash)
	as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || {
		echo "pgcluster: pg_ctl stop -m immediate failed" >&2
		exit 1
	}
	;;
restart)
	port=$(cat "$dir/port")
	as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 $extra" \
		start >/dev/null 2>&1 || {
		echo "pgcluster: pg_ctl start failed: $(tail -n 1 "$dir/server.log" 2>/dev/null)" >&2
		exit 1
	}
	;;
stop)
	[ -d "$dir/data" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	;;
*)
	echo "usage: pgcluster.sh start|stop|crash|restart DIR" >&2
	exit 1
	;;
esac
