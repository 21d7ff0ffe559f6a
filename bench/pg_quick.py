#!/usr/bin/python3
"""bench/pg_quick.py [BIN] — the PostgreSQL store's create and cache-miss
paths against SQLite's, in one short run (issue 8: creates >= 10,000/s with
64 clients, cache-miss >= 20,000/s). `make bench` measures the same things
among everything else; this measures only them, for the work on those two
paths, and is never part of `make test`.

A PostgreSQL 15 cluster of its own (tests/suites/lib/pgcluster.sh, fsync
on as in `make bench`), LINKS links imported into SQLite and moved to
PostgreSQL with `shorty copy` (timed), then, in turns (PostgreSQL, SQLite,
PostgreSQL, ...) so that load from elsewhere falls on both alike:

  creates  a fresh `shorty serve` (2 threads; SQLite at --synchronous full),
           wrk -t1 -c64 bench/create.lua (distinct URLs, findIfExists false)
  miss     a fresh `shorty serve --cache-entries 0`: every redirect reads
           the store; wrk -t1 -c64 bench/redirect.lua over the links' codes

Printed per run: answers/s and CPU µs per answer (shorty's process, plus
every process of the PostgreSQL cluster for the PostgreSQL runs: the
server's work is part of the cost), from /proc/PID/stat around the wrk
run. Then the medians and the ratio PostgreSQL / SQLite of each. Env:
ROUNDS (3), DURATION (seconds per wrk run, 5), LINKS (20000).
"""
import csv
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchutil import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "release", "shorty")
PGCLUSTER = os.path.join(ROOT, "tests", "suites", "lib", "pgcluster.sh")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "5"))
LINKS = int(os.environ.get("LINKS", "20000"))
TICK = os.sysconf("SC_CLK_TCK")


def ticks(pids):
    t = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass  # a backend that ended meanwhile
    return t


def cluster_pids(pgdir):
    with open(os.path.join(pgdir, "data", "postmaster.pid")) as f:
        pm = int(f.readline())
    kids = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout
    return [pm] + [int(k) for k in kids.split()]


def shorty(db, *args):
    p = subprocess.run([BIN, "--db", db, *args], capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        sys.exit(f"pg_quick: shorty {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout


def measure(db, flags, script, args, pgdir):
    port = free_port()
    log = open(os.path.join(tmp, "serve.log"), "a")
    sh = subprocess.Popen([BIN, "--db", db, "serve", "--listen", f"127.0.0.1:{port}",
                           "--threads", "2", "--base-url", f"http://127.0.0.1:{port}", *flags],
                          stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.3)
        pids = lambda: [sh.pid] + (cluster_pids(pgdir) if pgdir else [])
        t0 = ticks(pids())
        out = subprocess.run(["wrk", "-t1", "-c64", f"-d{DURATION}s", "--timeout", "5s",
                              "-s", os.path.join(ROOT, "bench", script),
                              f"http://127.0.0.1:{port}/", "--", *args],
                             capture_output=True, text=True, timeout=DURATION + 60).stdout
        t1 = ticks(pids())
    finally:
        sh.terminate()
        sh.wait(30)
    j = json.loads(re.search(r"^BENCH_JSON (\{.*\})$", out, re.M).group(1))
    ok = j["ok"] if "ok" in j else j["requests"] - j["err_status"]
    bad = j.get("bad", j["err_status"])
    if bad:
        sys.exit(f"pg_quick: {bad} answers were not what {script} expects")
    return ok / (j["duration_us"] / 1e6), (t1 - t0) / TICK * 1e6 / max(ok, 1)


tmp = tempfile.mkdtemp(prefix="shorty-pgquick-")
pgdir = tempfile.mkdtemp(prefix="shorty-pgquick-pg-", dir="/tmp")
env = dict(os.environ, PGCLUSTER_OPTS="-c fsync=on")
r = subprocess.run([PGCLUSTER, "start", pgdir], capture_output=True, text=True, env=env)
if r.returncode != 0:
    sys.exit(f"pg_quick: {r.stderr.strip()}")
pg = r.stdout.strip()
try:
    lite = f"sqlite:{tmp}/links.db"
    with open(os.path.join(tmp, "links.csv"), "w") as f:
        f.write("code,url,title,tags,created_at,expires_at,max_visits,redirect_status,visits\n")
        for i in range(LINKS):
            f.write(f",https://example.com/quick/{i},,,,,,301,0\n")
    shorty(lite, "import", os.path.join(tmp, "links.csv"), "--format", "csv")
    t = time.monotonic()
    shorty(lite, "copy", "--from", lite, "--to", pg)
    print(f"shorty copy of {LINKS} links SQLite -> PostgreSQL: {time.monotonic() - t:.1f} s",
          flush=True)
    rows = list(csv.DictReader(shorty(lite, "export", "--format", "csv").splitlines()))
    codes = os.path.join(tmp, "codes.txt")
    with open(codes, "w") as f:
        f.write("\n".join(r["code"] for r in rows) + "\n")
    keys = {db: shorty(db, "key", "create", "--role", "admin", "--name", "quick").strip()
            for db in (pg, lite)}
    res = {k: [] for k in ("pg creates", "sqlite creates", "pg miss", "sqlite miss")}
    for rnd in range(ROUNDS):
        for name, db, flags, pgd in (("pg", pg, [], pgdir),
                                      ("sqlite", lite, ["--synchronous", "full"], None)):
            prefix = f"https://example.org/quick/{os.getpid()}/{rnd}/"
            res[f"{name} creates"].append(
                measure(db, flags, "create.lua", [keys[db], prefix], pgd))
            res[f"{name} miss"].append(
                measure(db, flags + ["--cache-entries", "0"], "redirect.lua", [codes], pgd))
            for what in ("creates", "miss"):
                rps, cpu = res[f"{name} {what}"][-1]
                print(f"round {rnd + 1} {name:6} {what:7} {rps:9,.0f}/s {cpu:7.1f} µs CPU each",
                      flush=True)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
           for k, v in res.items()}
    for what in ("creates", "miss"):
        p, s = med[f"pg {what}"], med[f"sqlite {what}"]
        print(f"median {what:7}: PostgreSQL {p[0]:,.0f}/s {p[1]:.1f} µs, SQLite {s[0]:,.0f}/s "
              f"{s[1]:.1f} µs; PostgreSQL/SQLite {p[0] / s[0]:.2f}x the rate, "
              f"{p[1] / s[1]:.2f}x the CPU")
finally:
    subprocess.run([PGCLUSTER, "stop", pgdir], capture_output=True)
    subprocess.run(["rm", "-rf", tmp])
