"""Black-box tests of the `shorty` binary: fixtures.

The binary is $SHORTY_BIN, else build/asan/shorty under the repository root
(what `make test` builds). Every test gets its own temporary directory and
SQLite store (SHORTY_DB points into it); no SHORTY_* variable of the caller
leaks in. LeakSanitizer is on, and any sanitizer report fails the test.
"""
import tempfile

import pytest

from helpers import Shorty


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
