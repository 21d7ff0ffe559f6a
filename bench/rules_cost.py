#!/usr/bin/python3
"""bench/rules_cost.py [BIN] — what redirect rules and GeoIP cost a redirect
of a link WITHOUT rules, measured in one run (issue 9: "no measurable CPU
... `make bench`, same run"). `make bench-rules` runs it on the release
build; it is never part of `make test`.

Three server configurations, each started fresh on the same SQLite file of
200 links without rules and 10 links with the ten rules of
bench/rules_sample.h, driven by wrk (-t1 -c64, bench/redirect.lua) with the
same headers (a desktop Chrome, Accept-Language, X-Forwarded-For of a
located address that --trusted-proxies makes the client's):

  off    no --geoip-db: nothing is located; redirects of the 200 rule-less links
  on     --geoip-db (tests/fixtures/make-geoip-db.pl): every visit located
         by the writer; redirects of the 200 rule-less links
  ruled  as `on`, redirects of the 10 links with rules (for scale)

The figure is the server process's CPU time (user + system, all threads:
the HTTP workers and the writer that stores and locates the visits) per
redirect, from /proc/PID/stat before and after each wrk run plus the
writer's flush of that run's visits. The configurations take turns
(off, on, ruled, off, on, ruled, ...) so that load from elsewhere on the
machine falls on all of them alike; the medians are printed with the
spread. Env: ROUNDS (default 3), DURATION (seconds per run, default 5).
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchutil import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "release", "shorty")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "5"))
PLAIN_LINKS = 200
HZ = os.sysconf("SC_CLK_TCK")
HEADERS = [
    "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/146.0.0.0 Safari/537.36",
    "Accept-Language: en-US,en;q=0.9,de;q=0.8",
    "X-Forwarded-For: 81.2.69.10",  # London in the test database
]


def rules_json():
    """The ten rules of bench/rules_sample.h (the C string, unescaped)."""
    src = open(os.path.join(ROOT, "bench", "rules_sample.h")).read()
    body = src.split("RULES =", 1)[1].split(";", 1)[0]
    return json.loads("".join(json.loads(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', body)))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


class Serve:
    def __init__(self, db, opts):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.p = subprocess.Popen(
            [BIN, "--db", db, *opts, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--threads", "2", "--base-url", self.url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("SHORTY_")})
        for _ in range(200):
            try:
                if urllib.request.urlopen(self.url + "/health", timeout=1).status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        sys.exit(f"rules_cost: shorty serve did not start: {self.p.stderr.read().decode()[-500:]}")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def wrk(url, codes_file, seconds):
    cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s", "-s", os.path.join(ROOT, "bench", "redirect.lua")]
    for h in HEADERS:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url + "/", "--", codes_file], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    m = re.search(r"^BENCH_JSON (.*)$", out, re.M)
    if not m:
        sys.exit(f"rules_cost: no result from wrk:\n{out}")
    r = json.loads(m.group(1))
    errors = sum(v for k, v in r.items() if k.startswith("err_"))
    if errors:
        sys.exit(f"rules_cost: wrk saw {errors} errors: {r}")
    return r["requests"]


def one_run(db, opts, codes_file):
    """CPU µs per redirect and redirects/s of one fresh server."""
    s = Serve(db, opts)
    try:
        wrk(s.url, codes_file, 1)  # warm-up: the cache holds every link
        time.sleep(1.5)            # its visits flushed
        t0 = cpu_ticks(s.p.pid)
        n = wrk(s.url, codes_file, DURATION)
        time.sleep(1.5)            # the writer stores (and locates) this run's visits
        t1 = cpu_ticks(s.p.pid)
    finally:
        s.stop()
    return (t1 - t0) / HZ / n * 1e6, n / DURATION


def main():
    if not os.access(BIN, os.X_OK):
        sys.exit(f"rules_cost: {BIN} not built (make release)")
    tmp = tempfile.mkdtemp(prefix="shorty-rules-cost-")
    geo = os.path.join(tmp, "geo.mmdb")
    subprocess.run(["perl", os.path.join(ROOT, "tests", "fixtures", "make-geoip-db.pl"), geo],
                   check=True, stdout=subprocess.DEVNULL)
    db = f"sqlite:{tmp}/rules.db"
    s = Serve(db, [])
    key = subprocess.run([BIN, "--db", db, "key", "create", "--role", "admin"], check=True,
                         capture_output=True, text=True).stdout.strip()
    rules = json.dumps(rules_json()).encode()

    def call(method, path, body):
        req = urllib.request.Request(s.url + "/rest/v3" + path, data=body, method=method,
                                     headers={"X-Api-Key": key, "Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(req, timeout=10))

    plain, ruled = [], []
    for i in range(PLAIN_LINKS):
        plain.append(call("POST", "/short-urls", json.dumps(
            {"longUrl": f"https://example.com/plain/{i}", "customSlug": f"plain{i}"}).encode())["shortCode"])
    for i in range(10):
        c = call("POST", "/short-urls", json.dumps(
            {"longUrl": f"https://example.com/ruled/{i}", "customSlug": f"ruled{i}"}).encode())["shortCode"]
        call("POST", f"/short-urls/{c}/redirect-rules", rules)
        ruled.append(c)
    s.stop()
    files = {}
    for name, codes in (("plain", plain), ("ruled", ruled)):
        files[name] = os.path.join(tmp, name + ".txt")
        with open(files[name], "w") as f:
            f.write("\n".join(codes) + "\n")

    base = ["--trusted-proxies", "127.0.0.1"]
    configs = [("off", base, "plain"), ("on", base + ["--geoip-db", geo], "plain"),
               ("ruled", base + ["--geoip-db", geo], "ruled")]
    res = {c[0]: [] for c in configs}
    load0 = os.getloadavg()[0]
    for r in range(ROUNDS):
        for name, opts, codes in configs:
            us, rate = one_run(db, opts, files[codes])
            res[name].append((us, rate))
            print(f"round {r + 1} {name:5}: {us:6.2f} µs CPU per redirect, {rate:9,.0f} redirects/s",
                  flush=True)
    print(f"\n{ROUNDS} rounds of {DURATION} s, wrk -t1 -c64; load average {load0:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after; {BIN}")
    print("| configuration | CPU per redirect, median (range) | redirects/s, median |")
    print("|---|---|---|")
    labels = {"off": "link without rules; no GeoIP, no rules in the store",
              "on": "link without rules; GeoIP on, 10 links with 10 rules in the store",
              "ruled": "link with 10 rules; GeoIP on (for scale)"}
    med = {}
    for name, _, _ in configs:
        us = [x[0] for x in res[name]]
        med[name] = statistics.median(us)
        print(f"| {labels[name]} | {med[name]:.2f} µs ({min(us):.2f}–{max(us):.2f}) | "
              f"{statistics.median(x[1] for x in res[name]):,.0f} |")
    print(f"\non / off: {med['on'] / med['off']:.3f}; ruled / off: {med['ruled'] / med['off']:.3f}")
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
