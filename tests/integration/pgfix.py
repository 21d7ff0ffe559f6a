"""Helpers of the PostgreSQL tests (test_postgres.py, test_postgres_faults.py):
the run's cluster, psql, a Server on a PostgreSQL store, and a bounded wait.
The cluster is the one scripts/run-tests starts ($SHORTY_TEST_PG,
tests/suites/lib/pgcluster.sh); without it the tests fail, never skip.
"""
import os
import subprocess
import time
from urllib.parse import urlsplit, urlunsplit

from httpfix import Server


def cluster_url():
    url = os.environ.get("SHORTY_TEST_PG")
    assert url, ("SHORTY_TEST_PG is not set: run through `make test` (scripts/run-tests "
                 "starts a PostgreSQL cluster) or tests/suites/lib/pgcluster.sh start DIR")
    return url


def psql(url, sql):
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def with_db(url, name):
    """url with its database replaced by name."""
    u = urlsplit(url)
    return urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def instance(db):
    """A Server (not started) on the PostgreSQL store db."""
    s = Server(env={"SHORTY_DB": db, "SHORTY_CODE_LENGTH": "5"})
    s.db = db
    return s


def until(pred, bound, step=0.002):
    """Seconds until pred() holds, or None after bound seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < bound:
        if pred():
            return time.monotonic() - t0
        time.sleep(step)
    return None
