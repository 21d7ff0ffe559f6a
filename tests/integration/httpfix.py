"""Fixtures for the HTTP tests: a real `shorty serve` on a free loopback port.

The binary is $SHORTY_BIN, else build/asan/shorty. Each server gets its own
temporary SQLite file; an admin API key is made with `shorty key create`
before the server starts. The server is stopped by its PID with SIGTERM and
must exit 0 within 10 s, with no sanitizer report on its standard error.

Use in a test module:  from httpfix import srv, Server  (srv is one server
shared by the module; Server(...) starts a private one).
"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from helpers import BIN, assert_no_sanitizer_report



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One shorty serve process on one store."""

    def __init__(self, directory=None, env=None, threads=2):
        self._tmp = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="shorty-http-")
            directory = self._tmp.name
        self.dir = Path(directory)
        self.db = f"sqlite:{self.dir / 'shorty.db'}"
        self.extra_env = dict(env or {})
        self.threads = threads
        self.proc = None
        self.port = None
        self.log = self.dir / "serve.log"
        self.admin_key = None

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTY_")}
        env["SHORTY_DB"] = self.db
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        # the per-address brakes on unknown codes, failed logins and visit
        # details are off by default here: many tests send hundreds of them
        # from 127.0.0.1. test_catalogue.py (G3, E8) and
        # test_visit_details.py turn them on and test them.
        env["SHORTY_NOTFOUND_LIMIT"] = "0"
        env["SHORTY_LOGIN_LIMIT"] = "0"
        env["SHORTY_VISIT_DETAIL_LIMIT"] = "0"
        # scripts/run-tests runs the HTTP test files a second time on
        # libmicrohttpd (TEST_HTTP_ENGINE=mhd, as SHORTY_* do not leak in)
        if os.environ.get("TEST_HTTP_ENGINE"):
            env["SHORTY_HTTP_ENGINE"] = os.environ["TEST_HTTP_ENGINE"]
        env.update(self.extra_env)
        return env

    def cli(self, *args):
        p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True,
                           env=self.env(), cwd=self.dir, timeout=60)
        assert_no_sanitizer_report(args, p.stderr)
        assert p.returncode == 0, f"shorty {args}: {p.stderr}"
        return p.stdout

    def key(self, role="admin", name=None):
        """Creates an API key with the CLI (works while the server runs)."""
        args = ["key", "create", "--role", role]
        if name:
            args += ["--name", name]
        return self.cli(*args).strip()

    def start(self):
        if self.admin_key is None:
            self.admin_key = self.key("admin", "tests")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--threads", str(self.threads)],
            env=self.env(), cwd=self.dir, stdout=self._logf, stderr=self._logf)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"shorty serve exited {self.proc.returncode}:\n{self.logtext()}")
            try:
                if requests.get(self.base + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError("shorty serve did not come up:\n" + self.logtext())

    def logtext(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, expect_rc=0):
        """SIGTERM by PID; asserts exit status and a clean sanitizer log."""
        if not self.proc:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError("shorty serve did not stop within 10 s")
        self.proc = None
        self._logf.close()
        text = self.logtext()
        assert_no_sanitizer_report("shorty serve", text)
        assert rc == expect_rc, f"serve exited {rc}:\n{text}"

    def kill9(self):
        """SIGKILL by PID; leaves the Server ready for start() again."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        self._logf.close()

    def close(self):
        if self.proc:
            try:
                self.stop()
            finally:
                if self._tmp:
                    self._tmp.cleanup()
        elif self._tmp:
            self._tmp.cleanup()

    # ---- requests --------------------------------------------------------

    def url(self, path):
        return self.base + path

    def get(self, path, **kw):
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 10)
        return requests.get(self.url(path), **kw)

    def api(self, method, path, key=..., **kw):
        """A REST call under /rest/v3 with the admin key (key=None: no key)."""
        headers = kw.pop("headers", {})
        if key is ...:
            key = self.admin_key
        if key is not None:
            headers["X-Api-Key"] = key
        kw.setdefault("timeout", 10)
        return requests.request(method, self.url("/rest/v3" + path), headers=headers,
                                allow_redirects=False, **kw)

    def create(self, long_url, key=..., **fields):
        body = {"longUrl": long_url, **fields}
        r = self.api("POST", "/short-urls", key=key, json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def raw(self, data, timeout=5.0, read_all=True):
        """Sends raw bytes, returns everything read until close/timeout."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
                    if not read_all:
                        break
            except socket.timeout:
                pass
            return b"".join(chunks)


def integrity(db_path):
    """PRAGMA integrity_check of a store file, opened read-only."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


def report(name, figures):
    """Prints a fault test's figures as one JSON line, and appends it to
    $SHORTY_CRASH_REPORT when set (make test-faults collects them)."""
    line = json.dumps({"test": name, **figures})
    print(line)
    path = os.environ.get("SHORTY_CRASH_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def status_of(raw):
    """Status code of the first response in raw bytes."""
    line = raw.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


@pytest.fixture(scope="module")
def srv():
    s = Server()
    s.start()
    yield s
    s.close()


def wait_flush():
    """Visits reach the store about once a second."""
    time.sleep(1.6)


def assert_problem(r, status, type_suffix=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    body = r.json()
    assert body["status"] == status
    assert body["title"] and "detail" in body
    if type_suffix:
        assert body["type"] == "https://shlink.io/api/error/" + type_suffix, body
    return body
