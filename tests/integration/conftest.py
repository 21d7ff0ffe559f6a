"""Black-box tests of the `shorty` binary: fixtures.

The binary is $SHORTY_BIN, else build/asan/shorty under the repository root
(what `make test` builds). Every test gets its own temporary directory and
SQLite store (SHORTY_DB points into it); no SHORTY_* variable of the caller
leaks in. LeakSanitizer is on, and any sanitizer report fails the test.
"""
import subprocess
import tempfile
import uuid

import pytest

from helpers import ROOT, Shorty
from pgfix import cluster_url, psql, with_db


@pytest.fixture
def pgdb():
    """A fresh, empty database of the run's PostgreSQL cluster: its store URL."""
    base = cluster_url()
    name = "it_" + uuid.uuid4().hex[:12]
    psql(base, f"CREATE DATABASE {name}")
    yield with_db(base, name)
    psql(base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def geodb(tmp_path_factory):
    """The small GeoIP database of tests/fixtures/make-geoip-db.pl
    (81.2.69.0/24: London, GB; 2a01:4f8::/32: Berlin, DE; 1.2.3.0/24: the
    US, country only)."""
    db = tmp_path_factory.mktemp("geoip") / "test.mmdb"
    subprocess.run(["perl", str(ROOT / "tests" / "fixtures" / "make-geoip-db.pl"), str(db)],
                   check=True, timeout=120)
    return db


@pytest.fixture
def shorty(tmp_path):
    return Shorty(tmp_path)


@pytest.fixture
def run(shorty):
    """run(*args, input=None) -> (rc, stdout, stderr) against a fresh store."""
    return shorty.run


@pytest.fixture
def new_store():
    """A factory of fresh stores, for property tests (one per example)."""
    dirs = []

    def make():
        d = tempfile.TemporaryDirectory(prefix="shorty-it-")
        dirs.append(d)
        return Shorty(d.name)

    yield make
    for d in dirs:
        d.cleanup()
