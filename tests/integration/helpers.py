"""Helpers shared by the black-box tests (conftest.py, httpfix.py and the
test modules): where the binary is, what a sanitizer report looks like, a
way to run the CLI against one store (Shorty), and small checks used by
several modules. One copy of each.
"""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("SHORTY_BIN") or str(ROOT / "build" / "asan" / "shorty")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def assert_no_sanitizer_report(what, err):
    for mark in SANITIZER_MARKS:
        assert mark not in err, f"sanitizer report from {what}:\n{err}"


def run_cli(*args, env, cwd=None, timeout=60):
    """One CLI run (text output) whose standard error must hold no sanitizer
    report; returns the CompletedProcess for the caller's own checks."""
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=timeout)
    assert_no_sanitizer_report(f"shorty {' '.join(map(str, args))}", p.stderr)
    return p


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
        if os.environ.get("TEST_HTTP_ENGINE"):  # see httpfix.Server.env
            env["SHORTY_HTTP_ENGINE"] = os.environ["TEST_HTTP_ENGINE"]
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
        assert_no_sanitizer_report(args, err)
        return p.returncode, out, err

    def popen(self, *args):
        """Starts `shorty ARGS` and returns the Popen (text pipes); check
        its standard error with assert_no_sanitizer_report."""
        return subprocess.Popen([BIN] + [str(a) for a in args], cwd=self.dir, env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

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


def code_of(short_url):
    """The code of a short URL as the CLI prints it."""
    return short_url.strip().rsplit("/", 1)[1]


def link_count(srv):
    """Links in a running server's store, by the REST API."""
    r = srv.api("GET", "/short-urls", params={"itemsPerPage": 1})
    return r.json()["shortUrls"]["pagination"]["totalItems"]


def still_serves(srv):
    assert srv.get("/health").status_code == 200
