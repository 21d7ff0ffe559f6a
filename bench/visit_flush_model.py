#!/usr/bin/python3
"""A model of the writer's visit flush, in Python's sqlite3, to see which
part of the schema costs what (docs/benchmarks.md, "what a visit costs").

  bench/visit_flush_model.py MODE [--no-index]

MODE: wide   (the counter in `links`, as shorty does it),
      narrow (the counter in a table of its own),
      none   (no per-link counter).
--no-index drops the visits(link_id, id) index.

100,000 links, 40 warm-up flushes (2.4 million visits logged), then 15
measured flushes of 61,000 visits with uniformly random links (what `make
bench` sends at its keep-alive rate): prints process CPU and wall time per
visit. Python's own binding work is in the figures, so compare modes with
each other, not with shorty. Files go to a temporary directory."""
import os
import random
import sqlite3
import sys
import tempfile
import time

MODES = ("wide", "narrow", "none")
LINKS, WARM, RUNS, BATCH = 100000, 40, 15, 61000


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        sys.exit(__doc__)
    mode, index = sys.argv[1], "--no-index" not in sys.argv[2:]
    with tempfile.TemporaryDirectory() as tmp:
        run(os.path.join(tmp, "model.db"), mode, index)


def run(path, mode, index):
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=FULL")
    c.execute("PRAGMA cache_size=-8192")  # the writer's 8 MiB
    c.executescript("""
CREATE TABLE links(id INTEGER PRIMARY KEY, code_kind INT, url TEXT, url_hash INT,
 title TEXT, created_at INT, updated_at INT, valid_since INT, expires_at INT,
 max_visits INT, visits INT NOT NULL DEFAULT 0, bot_visits INT NOT NULL DEFAULT 0,
 redirect_status INT, forward_query INT, crawlable INT, disabled INT, owner_key_id INT);
CREATE TABLE link_visits(link_id INTEGER PRIMARY KEY, visits INT NOT NULL DEFAULT 0);
CREATE TABLE visits(id INTEGER PRIMARY KEY, link_id INT, ts INT, kind INT,
 orphan_type INT, referer TEXT, user_agent TEXT, visited_url TEXT, ip TEXT);
CREATE TABLE visits_daily(link_id INT, day INT, visits INT NOT NULL DEFAULT 0,
 bots INT NOT NULL DEFAULT 0, PRIMARY KEY(link_id, day)) WITHOUT ROWID;
""")
    if index:
        c.execute("CREATE INDEX visits_link ON visits(link_id, id)")
    c.execute("BEGIN")
    c.executemany("INSERT INTO links VALUES(?,0,?,?,NULL,1,1,0,0,0,0,0,302,1,0,0,0)",
                  ((i, f"https://example.com/page/{i}", random.getrandbits(60))
                   for i in range(1, LINKS + 1)))
    c.executemany("INSERT INTO link_visits(link_id) VALUES(?)",
                  ((i,) for i in range(1, LINKS + 1)))
    c.execute("COMMIT")

    def flush(day):
        ids = [random.randint(1, LINKS) for _ in range(BATCH)]
        count = {}
        for i in ids:
            count[i] = count.get(i, 0) + 1
        c.execute("BEGIN")
        c.executemany("INSERT INTO visits(link_id, ts, kind, orphan_type, user_agent,"
                      " visited_url, ip) VALUES(?, 1700000000, 0, 0, 'wrk',"
                      " 'http://127.0.0.1:8000/abcdef', '127.0.0.1')",
                      ((i,) for i in ids))
        if mode == "wide":
            c.executemany("UPDATE links SET visits = visits + ? WHERE id = ?",
                          ((v, k) for k, v in count.items()))
        elif mode == "narrow":
            c.executemany("UPDATE link_visits SET visits = visits + ? WHERE link_id = ?",
                          ((v, k) for k, v in count.items()))
        c.executemany("INSERT INTO visits_daily(link_id, day, visits) VALUES(?, ?, ?)"
                      " ON CONFLICT DO UPDATE SET visits = visits + excluded.visits",
                      ((k, day, v) for k, v in count.items()))
        c.execute("COMMIT")

    for _ in range(WARM):
        flush(1)
    cpu, wall = time.process_time(), time.time()
    for _ in range(RUNS):
        flush(2)
    n = RUNS * BATCH
    print(f"{mode}{'' if index else ' --no-index'}: "
          f"{(time.process_time() - cpu) / n * 1e6:.1f} µs CPU, "
          f"{(time.time() - wall) / n * 1e6:.1f} µs wall per visit")
    c.close()


if __name__ == "__main__":
    main()
