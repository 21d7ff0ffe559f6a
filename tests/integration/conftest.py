"""Black-box tests of the `shorty` binary: fixtures.

The binary is $SHORTY_BIN, else build/asan/shorty under the repository root
(what `make test` builds). Every test gets its own temporary directory and
SQLite store (SHORTY_DB points into it); no SHORTY_* variable of the caller
leaks in. LeakSanitizer is on, and any sanitizer report fails the test.
"""
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("SHORTY_BIN") or str(ROOT / "build" / "asan" / "shorty")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def _decode(b):
    return b.decode("utf-8", "surrogateescape")


class Shorty:
    """One store in one directory, and a way to run the binary against it."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.db = f"sqlite:{self.dir / 'shorty.db'}"
        self.extra_env = {}

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTY_")}
        env["SHORTY_DB"] = self.db
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        env.update(self.extra_env)
        env.update(extra)
        return {k: v for k, v in env.items() if v is not None}  # None = unset

    def run(self, *args, input=None, env=None, timeout=300):
        """Runs `shorty ARGS`; returns (rc, stdout, stderr) as text."""
        if isinstance(input, str):
            input = input.encode()
        argv = [BIN] + [a if isinstance(a, bytes) else str(a) for a in args]
        p = subprocess.run(argv, input=input, capture_output=True, cwd=self.dir,
                           env=self.env(**(env or {})), timeout=timeout)
        out, err = _decode(p.stdout), _decode(p.stderr)
        for mark in SANITIZER_MARKS:
            assert mark not in err, f"sanitizer report from {args}:\n{err}"
        return p.returncode, out, err

    def ok(self, *args, **kw):
        """Runs and asserts exit 0; returns stdout."""
        rc, out, err = self.run(*args, **kw)
        assert rc == 0, f"shorty {args} -> {rc}: {err}"
        return out

    def fails(self, status, *args, **kw):
        """Runs and asserts exit `status` with ONE line `shorty: ...` on
        stderr and nothing on stdout; returns that line."""
        rc, out, err = self.run(*args, **kw)
        assert rc == status, f"shorty {args} -> {rc} (wanted {status}): {err!r}"
        assert out == "", f"stdout should be empty: {out!r}"
        lines = err.splitlines()
        assert len(lines) == 1 and err.endswith("\n"), f"want one line: {err!r}"
        assert lines[0].startswith("shorty: "), err
        return lines[0]

    def write(self, name, data):
        path = self.dir / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path


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
