#!/usr/bin/python3
"""bench/startup.py [BIN] [RUNS] — how fast the shorty binary starts.

  exec     `shorty --version` run to exit (loading the binary and its 40
           shared libraries; the embedded /admin files are part of the image)
  serve    `shorty serve` on an existing SQLite file (made and migrated once
           before) until GET /health answers 200 (polled every millisecond),
           then SIGTERM

Prints the median and the range of each over RUNS (default 20) runs: the
wall time, and the CPU time the process used (user + system; what a loaded
machine does not inflate as much)."""
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchutil import free_port

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/release/shorty"
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 20


def health(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


ENV = {k: v for k, v in os.environ.items() if not k.startswith("SHORTY_")}
TICK = os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = os.times()
    return r.children_user + r.children_system


def one_exec():
    c, t = children_cpu(), time.perf_counter()
    subprocess.run([BIN, "--version"], stdout=subprocess.DEVNULL, check=True, env=ENV)
    return (time.perf_counter() - t) * 1000, (children_cpu() - c) * 1000


def one_serve(db):
    port = free_port()
    t = time.perf_counter()
    p = subprocess.Popen([BIN, "--db", db, "serve", "--listen", f"127.0.0.1:{port}",
                          "--threads", "2"], env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not health(port):
        if p.poll() is not None:
            raise SystemExit("shorty serve exited")
        time.sleep(0.001)
    ms = (time.perf_counter() - t) * 1000
    with open(f"/proc/{p.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) * 1000 / TICK  # utime + stime
    p.send_signal(signal.SIGTERM)
    p.wait(10)
    return ms, cpu


def show(name, runs):
    wall = [w for w, _ in runs]
    cpu = [c for _, c in runs]
    print(f"{name:6} wall median {statistics.median(wall):.1f} ms ({min(wall):.1f}–{max(wall):.1f}), "
          f"CPU median {statistics.median(cpu):.0f} ms, {len(runs)} runs")


print(f"{BIN}: {os.path.getsize(BIN) / 1e6:.1f} MB; load average {os.getloadavg()[0]:.1f}")
show("exec", [one_exec() for _ in range(RUNS)])
with tempfile.TemporaryDirectory() as d:
    db = f"sqlite:{d}/s.db"
    subprocess.run([BIN, "--db", db, "migrate"], env=ENV, check=True, stdout=subprocess.DEVNULL)
    show("serve", [one_serve(db) for _ in range(RUNS)])
