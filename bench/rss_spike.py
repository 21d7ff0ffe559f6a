#!/usr/bin/env python3
"""bench/rss_spike.py — does shorty give memory back after a load spike?
(issue 12: "RSS does not fall after a load spike, 435 MB stayed").

    python3 bench/rss_spike.py [SHORTY_BIN]   (default build/release/shorty)

Starts `shorty serve` on a fresh SQLite store (2 threads, every visit with
its details: SHORTY_VISIT_DETAIL_LIMIT=0), then:
  1. creates: wrk -t2 -c64 for 5 s, POST /rest/v3/short-urls (bench/create.lua);
  2. redirects: wrk -t2 -c512 for 8 s over the codes made, each request with
     a 500-byte Referer and User-Agent (visit details fill the buffers);
  3. idle: nothing for 10 s.
VmRSS (/proc/PID/status) is read at start, after each phase, and 1, 3, 6
and 10 s into the idle; VmHWM is the peak. Prints one line per reading and
a last JSON line. Numbers go to docs/benchmarks.md ("Memory after a spike").
"""
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from benchutil import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHORTY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/release/shorty")
WRK = shutil.which("wrk")


def die(msg):
    print("rss_spike: " + msg, file=sys.stderr)
    sys.exit(1)


def mem_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def wait_up(port, deadline=20):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    die("shorty did not start listening")


def wrk(port, script, args, conns, secs, headers=()):
    argv = [WRK, "-t2", f"-c{conns}", f"-d{secs}s", "--timeout", "5s",
            "-s", os.path.join(ROOT, "bench", script)]
    for h in headers:
        argv += ["-H", h]
    argv += [f"http://127.0.0.1:{port}/", "--", *args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 60)
    if r.returncode != 0:
        die("wrk failed: " + r.stdout[-500:] + r.stderr[-500:])
    for line in r.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    return {}


def main():
    if not WRK:
        die("wrk is not installed")
    tmp = tempfile.mkdtemp(prefix="shorty-rss-")
    db = f"sqlite:{tmp}/spike.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTY_")}
    env["SHORTY_VISIT_DETAIL_LIMIT"] = "0"
    port = free_port()
    key = subprocess.run([SHORTY, "--db", db, "key", "create", "--role", "admin",
                          "--name", "spike"], capture_output=True, text=True, env=env,
                         check=True).stdout.strip()
    log = open(os.path.join(tmp, "shorty.log"), "wb")
    p = subprocess.Popen([SHORTY, "--db", db, "serve", "--listen", f"127.0.0.1:{port}",
                          "--threads", "2", "--base-url", f"http://127.0.0.1:{port}"],
                         stdout=log, stderr=subprocess.STDOUT, env=env)
    readings = []

    def read(phase):
        m = mem_kb(p.pid)
        readings.append({"phase": phase, "rss_kb": m["VmRSS"], "hwm_kb": m["VmHWM"]})
        print(f"{phase:>14}: VmRSS {m['VmRSS'] / 1024:7.1f} MB, peak {m['VmHWM'] / 1024:7.1f} MB",
              flush=True)

    try:
        wait_up(port)
        time.sleep(1)
        read("start")
        c = wrk(port, "create.lua", [key, "https://example.com/spike/"], 64, 5)
        read("after creates")
        out = subprocess.run([SHORTY, "--db", db, "export", "--format", "csv"],
                             capture_output=True, text=True, env=env, check=True).stdout
        codes = [r["code"] for r in csv.DictReader(out.splitlines()) if r.get("code")]
        if not codes:
            die("the export holds no codes")
        with open(os.path.join(tmp, "codes"), "w") as f:
            f.write("\n".join(codes) + "\n")
        pad = "x" * 480
        r = wrk(port, "redirect.lua", [os.path.join(tmp, "codes")], 512, 8,
                headers=(f"Referer: https://referrer.example/{pad}",
                         f"User-Agent: Mozilla/5.0 spike {pad}"))
        read("after redirects")
        start = time.monotonic()
        for at in (1, 3, 6, 10):
            time.sleep(max(0, start + at - time.monotonic()))
            read(f"idle {at} s")
    finally:
        p.terminate()
        p.wait(30)
        log.close()
    res = {"creates": c.get("requests"), "redirects": r.get("requests"),
           "links": len(codes), "readings": readings}
    print("BENCH_JSON " + json.dumps(res))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
