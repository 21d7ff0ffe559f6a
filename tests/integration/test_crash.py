"""Crash tests (Jepsen-lite, research/reliability-security.md §6, F1 and F13).

F1: the real `shorty serve` on a temporary SQLite file (synchronous=FULL);
64 client threads create links over the REST API, each recording every
operation as (code, url, result) with result ok (200 + shortCode), fail (an
answer other than 200) or info (timeout, reset: the outcome is unknown).
The server is killed with SIGKILL at a uniform random moment 0.3-2 s in and
restarted; the checker then requires:

  lost        = 0  every ok code resolves (GET, redirects off) to its URL
                   and the store holds it under that code;
  unexpected  = 0  every stored link was attempted by some client;
  duplicates  = 0  no code maps to two URLs, no attempt stored twice;
  false fails = 0  no create answered with an error was stored anyway;
  info        any outcome, but whole (code, url and created_at present);
  PRAGMA integrity_check = ok, and the restarted server answers /health.

F13: `shorty import` of a 10,000-row CSV killed with SIGKILL at a uniform
random moment of its run: afterwards the store holds zero rows or all of
them (each under its own code and URL), integrity_check is ok, and running
the import again completes it.

Trials per test: $SHORTY_CRASH_TRIALS (3 under `make test`, 100 under
`make test-faults`). With $SHORTY_CRASH_REPORT set, each test appends a JSON
line of figures to that file (the numbers in docs/reliability.md).
"""
import csv
import io
import os
import random
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import requests

from httpfix import BIN, Server, integrity, report

TRIALS = int(os.environ.get("SHORTY_CRASH_TRIALS", "3"))
CLIENTS = 64
IMPORT_ROWS = 10000
SEED = int(os.environ.get("SHORTY_CRASH_SEED", str(int(time.time()))))




# ---- F1: kill -9 while 64 clients create links --------------------------------

def client(srv, trial, cid, stop, ops):
    s = requests.Session()
    s.headers["X-Api-Key"] = srv.admin_key
    url_base = srv.base + "/rest/v3/short-urls"
    i = 0
    while not stop.is_set():
        url = f"https://crash.example/t{trial}/c{cid}/{i}?x={random.random()}"
        i += 1
        try:
            r = s.post(url_base, json={"longUrl": url}, timeout=(2, 10))
        except requests.RequestException as e:
            # refused: nothing reached the server (fail); else unknown (info)
            refused = "Connection refused" in str(e)
            ops.append((None, url, "fail" if refused else "info", type(e).__name__))
            # the server is gone: no more attempts from this client
            if not stop.wait(0.01):
                continue
            break
        if r.status_code == 200:
            ops.append((r.json()["shortCode"], url, "ok", 200))
        else:
            ops.append((None, url, "fail", r.status_code))
    s.close()


def export_links(srv):
    """Every stored link, as the store sees it: [(code, url, created_at)]."""
    out = srv.cli("export", "--format", "csv")
    return [(row["code"], row["url"], row["created_at"]) for row in csv.DictReader(io.StringIO(out))]


def check_history(srv, ops):
    """The set-full checker. Returns figures; asserts the pass criteria."""
    stored = export_links(srv)
    by_code, by_url = {}, {}
    for code, url, created in stored:
        assert code not in by_code, f"code {code} stored twice: {by_code[code]!r}, {url!r}"
        by_code[code] = (url, created)
        by_url.setdefault(url, []).append(code)
    attempted = {url: res for _, url, res, _ in ops}
    ok = [(c, u) for c, u, res, _ in ops if res == "ok"]

    unexpected = [u for u in by_url if u not in attempted]
    duplicates = {u: cs for u, cs in by_url.items() if len(cs) > 1}
    false_fails = [u for _, u, res, _ in ops if res == "fail" and u in by_url]
    answered = [u for _, u, res, st in ops if res == "fail" and st != "ConnectionError"]
    half = [c for c, (u, created) in by_code.items() if not (c and u and created)]
    lost = []
    sess = requests.Session()
    for code, url in ok:
        if by_code.get(code, (None,))[0] != url:
            lost.append((code, url, "store"))
            continue
        r = sess.get(srv.base + "/" + code, allow_redirects=False, timeout=10)
        if r.status_code != 302 or r.headers.get("Location") != url:
            lost.append((code, url, r.status_code, r.headers.get("Location")))
    sess.close()
    assert not lost, f"lost {len(lost)} acknowledged links, e.g. {lost[:5]}"
    assert not unexpected, f"unexpected links: {unexpected[:5]}"
    assert not duplicates, f"one attempt stored under two codes: {list(duplicates.items())[:5]}"
    assert not false_fails, f"creates answered with an error but stored: {false_fails[:5]}"
    assert not half, f"links stored without code/url/created_at: {half[:5]}"
    info = [u for _, u, res, _ in ops if res == "info"]
    assert not answered, f"creates answered with an error before the kill: {answered[:5]}"
    return {"ok": len(ok), "fail": sum(1 for o in ops if o[2] == "fail"), "info": len(info),
            "info_stored": sum(1 for u in info if u in by_url), "stored": len(stored)}


def test_kill9_while_creating():
    rng = random.Random(SEED)
    totals = {"trials": 0, "ok": 0, "fail": 0, "info": 0, "info_stored": 0, "stored": 0,
              "lost": 0, "max_restart_s": 0.0}
    for trial in range(TRIALS):
        srv = Server(env={"SHORTY_SYNCHRONOUS": "full", "SHORTY_RATE_LIMIT": "0"}, threads=2)
        try:
            srv.start()
            ops, stop = [], threading.Event()
            ts = [threading.Thread(target=client, args=(srv, trial, c, stop, ops), daemon=True)
                  for c in range(CLIENTS)]
            for t in ts:
                t.start()
            time.sleep(rng.uniform(0.3, 2.0))
            srv.kill9()
            stop.set()
            for t in ts:
                t.join(30)
            assert not any(t.is_alive() for t in ts), "a client thread hangs"

            t0 = time.monotonic()
            srv.start()  # waits for /health 200
            restart = time.monotonic() - t0
            figures = check_history(srv, ops)
            srv.stop()
            assert integrity(srv.dir / "shorty.db") == [("ok",)]
        finally:
            srv.close()
        totals["trials"] += 1
        for k in ("ok", "fail", "info", "info_stored", "stored"):
            totals[k] += figures[k]
        totals["max_restart_s"] = round(max(totals["max_restart_s"], restart), 3)
    assert totals["ok"] > 0, "no create was acknowledged: the test did not test anything"
    report("kill9_while_creating", {"seed": SEED, **totals})


# ---- F13: kill -9 during `shorty import` ----------------------------------------

def write_import_csv(path):
    rows = [(f"i{i:05d}", f"https://import.example/{i}/p?q={i}") for i in range(IMPORT_ROWS)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "url", "title"])
        for code, url in rows:
            w.writerow([code, url, "row " + code])
    return dict(rows)


def import_env(db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTY_")}
    env.update(SHORTY_DB=f"sqlite:{db}", SHORTY_SYNCHRONOUS="full",
               ASAN_OPTIONS="detect_leaks=1")
    return env


def stored_import(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute("SELECT c.code, l.url, l.title, l.created_at FROM codes c "
                           "JOIN links l ON l.id = c.link_id").fetchall()
        nlinks = con.execute("SELECT count(*) FROM links").fetchone()[0]
    finally:
        con.close()
    return rows, nlinks


def check_all_or_nothing(db, expected):
    assert integrity(db) == [("ok",)]
    rows, nlinks = stored_import(db)
    assert nlinks == len(rows), "links without a code row (half-written)"
    if not rows:
        return 0
    assert nlinks == len(expected), f"partial import: {nlinks} of {len(expected)} rows"
    got = {code: url for code, url, title, created in rows}
    assert got == expected
    assert all(title == "row " + code and created for code, url, title, created in rows)
    return nlinks


def test_kill9_during_import():
    rng = random.Random(SEED + 1)
    with tempfile.TemporaryDirectory(prefix="shorty-crash-import-") as tmp:
        tmp = Path(tmp)
        src = tmp / "links.csv"
        expected = write_import_csv(src)

        def run_import(db, kill_after=None):
            p = subprocess.Popen([BIN, "import", str(src)], env=import_env(db), cwd=tmp,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if kill_after is not None:
                try:
                    p.wait(kill_after)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
            out, err = p.communicate(timeout=120)
            return p.returncode, out.decode(), err.decode()

        # calibrate: how long one whole import takes on this machine and build
        db = tmp / "calib.db"
        t0 = time.monotonic()
        rc, out, err = run_import(db)
        full = time.monotonic() - t0
        assert rc == 0 and f"imported {IMPORT_ROWS} links" in out, err
        assert check_all_or_nothing(db, expected) == IMPORT_ROWS

        outcomes = {"killed_none": 0, "killed_all": 0, "finished": 0}
        for trial in range(TRIALS):
            db = tmp / f"t{trial}.db"
            subprocess.run([BIN, "migrate"], env=import_env(db), cwd=tmp, check=True,
                           capture_output=True)
            rc, out, err = run_import(db, kill_after=rng.uniform(0.0, full))
            n = check_all_or_nothing(db, expected)
            if rc == -signal.SIGKILL:
                outcomes["killed_none" if n == 0 else "killed_all"] += 1
            else:
                assert rc == 0 and n == IMPORT_ROWS, err
                outcomes["finished"] += 1
            if n == 0 and trial == 0:
                # the store is usable after the crash: the import runs again whole
                rc, out, err = run_import(db)
                assert rc == 0, err
                assert check_all_or_nothing(db, expected) == IMPORT_ROWS
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
    report("kill9_during_import", {"seed": SEED, "trials": TRIALS, "rows": IMPORT_ROWS,
                                   "import_s": round(full, 2), **outcomes})
