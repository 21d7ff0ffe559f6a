"""Slow and many clients (issue 4 item 4; research/reliability-security.md
§6 F8, F9 and §5 D15, C9): slowloris, slow bodies, slow readers, many idle
keep-alive connections and descriptor exhaustion (EMFILE), each while a
normal client keeps being served and its latency is measured.

Sizes: quick under `make test`; SHORTY_FULL=1 (`make test-faults`) runs the
full ones (10,000 idle connections, 1,000 slowloris sockets). Every test
prints one line "FIGURE ..." with what it measured (run with -s to see it);
docs/reliability.md "Slow clients" quotes them.

The timeouts under test (src/http/server.c): the headers must be complete
10 s after accept or after the request line, a body 10 s after its headers,
a request in progress may be idle 10 s, a keep-alive connection idle
`idle-timeout` seconds (default 60) between requests.
"""
import os
import resource
import socket
import statistics
import threading
import time

import requests

from httpfix import BIN, Server, status_of

FULL = os.environ.get("SHORTY_FULL") == "1"
N_IDLE = 10000 if FULL else 1000
N_LORIS = 1000 if FULL else 60
N_SLOW_READERS = 64 if FULL else 16
HEADER_DEADLINE = 10.0


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid, limit):
    """Waits until the process uses under 10% of a CPU over 0.5 s; returns
    the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - c0 < 0.05:
            break
    return time.monotonic() - t0


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Prober:
    """A normal client: GET /<code> over and over on fresh connections,
    recording each latency and any failure."""

    def __init__(self, srv, path):
        self.srv, self.path = srv, path
        self.lat, self.errors = [], []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                r = requests.get(self.srv.url(self.path), allow_redirects=False, timeout=5)
                if r.status_code != 302:
                    self.errors.append(r.status_code)
            except requests.RequestException as e:
                self.errors.append(repr(e))
            self.lat.append(time.monotonic() - t0)
            time.sleep(0.02)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def summary(self):
        lat = sorted(self.lat)
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return len(lat), p50 * 1000, p99 * 1000


def baseline(srv, path, n=60):
    lat = []
    for _ in range(n):
        t0 = time.monotonic()
        assert srv.get(path).status_code == 302
        lat.append(time.monotonic() - t0)
    lat.sort()
    return statistics.median(lat) * 1000, lat[int(n * 0.99) - 1] * 1000


def closed_at(sock, t_open, until):
    """Waits for the peer to close (EOF or reset); returns seconds since
    t_open, or None if still open at `until` (monotonic)."""
    while time.monotonic() < until:
        sock.settimeout(max(0.05, until - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - t_open
        except socket.timeout:
            return None
        except OSError:
            return time.monotonic() - t_open
    return None


def link_count(srv):
    r = srv.api("GET", "/short-urls", params={"itemsPerPage": 1})
    return r.json()["shortUrls"]["pagination"]["totalItems"]


# ---- slowloris (D15, F8) --------------------------------------------------------------

def test_slowloris_closed_at_header_deadline_while_others_are_served():
    raise_nofile(4 * N_LORIS + 256)
    s = Server()
    try:
        s.start()
        s.create("https://example.com/loris", customSlug="loris")
        b50, b99 = baseline(s, "/loris")
        head = b"GET /loris HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200
        socks = []
        for i in range(N_LORIS):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            socks.append((c, time.monotonic(), 1.0 if i % 2 else 9.0))  # byte every 1 s or 9 s
        with Prober(s, "/loris") as p:
            pos = [0] * N_LORIS
            nxt = [t for _, t, _ in socks]
            end = time.monotonic() + HEADER_DEADLINE + 3
            alive = set(range(N_LORIS))
            closed = {}
            while alive and time.monotonic() < end:
                now = time.monotonic()
                for i in list(alive):
                    c, t0, pace = socks[i]
                    if now >= nxt[i]:
                        try:
                            c.send(head[pos[i]:pos[i] + 1])
                            pos[i] += 1
                            nxt[i] = now + pace
                        except OSError:
                            closed[i] = now - t0
                            alive.discard(i)
                            continue
                    c.setblocking(False)
                    try:
                        d = c.recv(4096)
                        if d == b"":
                            closed[i] = now - t0
                            alive.discard(i)
                        else:
                            raise AssertionError(f"slowloris got an answer: {d[:60]!r}")
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed[i] = now - t0
                        alive.discard(i)
                time.sleep(0.05)
            n, p50, p99 = p.summary()
        for c, _, _ in socks:
            c.close()
        assert not alive, f"{len(alive)} slowloris connections still open after {end} s"
        times = sorted(closed.values())
        # the deadline is 10 s after accept, checked twice a second
        assert times[0] >= HEADER_DEADLINE - 0.5, times[:5]
        assert times[-1] <= HEADER_DEADLINE + 2.0, times[-5:]
        assert not p.errors, p.errors[:5]
        assert n >= 20
        # normal clients kept being served (ASan, 2 cores: a loose bound)
        assert p99 < max(10 * b99, 250), (b50, b99, p50, p99)
        print(f"\nFIGURE slowloris: {N_LORIS} sockets (half 1 byte/s, half 1 byte/9 s) closed "
              f"{times[0]:.1f}-{times[-1]:.1f} s after opening; normal client "
              f"p50/p99 {b50:.1f}/{b99:.1f} ms before, {p50:.1f}/{p99:.1f} ms during ({n} requests)")
        assert s.get("/health").status_code == 200
    finally:
        s.close()


# ---- slow bodies (C9, F8) ----------------------------------------------------------------

def test_slow_bodies_closed_after_timeout_nothing_stored():
    s = Server()
    try:
        s.start()
        before = link_count(s)
        body = b'{"longUrl":"https://example.com/slow-body-%d"}'
        head = (b"POST /rest/v3/short-urls HTTP/1.1\r\nHost: x\r\nX-Api-Key: "
                + s.admin_key.encode() + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n")
        stalled, drips = [], []
        for i in range(4):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(head + (body % i)[:10])  # 10 of 100 bytes, then idle
            stalled.append((c, time.monotonic()))
        for i in range(4):  # one byte a second: never idle 10 s, but over the body deadline
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(head)
            drips.append((c, time.monotonic(), (body % (10 + i)).ljust(100)))
        end = time.monotonic() + HEADER_DEADLINE + 3
        res = {}
        k = 0
        while time.monotonic() < end and len(res) < 8:
            for j, (c, t0, data) in enumerate(drips):
                if ("d", j) in res:
                    continue
                try:
                    c.send(data[k:k + 1])
                except OSError:
                    res[("d", j)] = time.monotonic() - t0
            k += 1
            for j, (c, t0) in enumerate(stalled):
                if ("s", j) not in res:
                    t = closed_at(c, t0, time.monotonic() + 0.01)
                    if t is not None:
                        res[("s", j)] = t
            for j, (c, t0, _) in enumerate(drips):
                if ("d", j) not in res:
                    t = closed_at(c, t0, time.monotonic() + 0.01)
                    if t is not None:
                        res[("d", j)] = t
            time.sleep(1.0)
        assert len(res) == 8, res
        assert all(HEADER_DEADLINE - 1 <= t <= HEADER_DEADLINE + 2.5 for t in res.values()), res
        assert link_count(s) == before, "a slow body stored something"
        assert s.get("/health").status_code == 200
        print(f"\nFIGURE slow bodies: 4 stalled (10 of 100 bytes) and 4 dripping (1 byte/s) "
              f"closed after {min(res.values()):.1f}-{max(res.values()):.1f} s, nothing stored")
    finally:
        s.close()


# ---- slow readers (F8) ----------------------------------------------------------------------

def test_slow_readers_do_not_block_other_clients():
    s = Server()
    try:
        # a big answer: 400 links with 2 KB URLs, listed in one page (~1 MB)
        rows = ["code,url"] + [f"big{i},https://example.com/{i}/" + "x" * 2000
                               for i in range(400)]
        (s.dir / "big.csv").write_text("\n".join(rows) + "\n")
        s.cli("import", s.dir / "big.csv")
        s.start()
        s.create("https://example.com/reader", customSlug="reader")
        b50, b99 = baseline(s, "/reader")
        req = (b"GET /rest/v3/short-urls?itemsPerPage=500 HTTP/1.1\r\nHost: x\r\nX-Api-Key: "
               + s.admin_key.encode() + b"\r\n\r\n")
        readers = []
        for _ in range(N_SLOW_READERS):  # more than the server's 2 threads
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.connect(("127.0.0.1", s.port))
            c.sendall(req * 8)  # 8 pipelined: ~7.6 MB, more than the socket buffers
            readers.append((c, time.monotonic()))
        # their answers are built (CPU, not what is under test) and stuck in
        # the socket buffers: wait until the server's CPU goes quiet
        t_quiet = wait_quiet(s.proc.pid, 60)
        with Prober(s, "/reader") as p:
            time.sleep(3)
            n, p50, p99 = p.summary()
        assert not p.errors, p.errors[:5]
        # a client blocked behind the readers would wait for the 10 s send
        # timeout that drops them; 1 s tells that apart from a loaded
        # machine's scheduling (p99 224 and 362 ms were seen during full
        # test runs beside other builds, 5.8 ms on a quieter moment)
        assert p99 < max(10 * b99, 1000), (b50, b99, p50, p99)
        # a reader that stays away past the 10 s send idle timeout is dropped
        time.sleep(HEADER_DEADLINE + 1.5 - 3)  # 3 s went to the prober
        got = []
        for c, t0 in readers:
            data = b""
            c.settimeout(2)
            try:
                while True:
                    b = c.recv(1 << 20)
                    if not b:
                        break
                    data += b
            except OSError:
                pass
            got.append(len(data))
            c.close()
        assert max(got) < 7 * 950_000, "a slow reader got every answer: not dropped"
        assert s.get("/health").status_code == 200
        print(f"\nFIGURE slow readers: {N_SLOW_READERS} readers of 8 pipelined ~1 MB lists never reading; "
              f"normal client p50/p99 {b50:.1f}/{b99:.1f} ms before, {p50:.1f}/{p99:.1f} ms "
              f"during (after {t_quiet:.1f} s building their answers); readers dropped after "
              f"the 10 s send idle timeout "
              f"(each had received at most {max(got)} of ~7.6 MB)")
    finally:
        s.close()


# ---- many idle keep-alive connections (F9) ------------------------------------------------

def test_many_idle_keepalive_connections():
    raise_nofile(N_IDLE + 512)
    idle = 40 if FULL else 8
    s = Server(env={"SHORTY_IDLE_TIMEOUT": str(idle),
                    "SHORTY_MAX_CONNECTIONS": str(N_IDLE + 100)})
    try:
        s.start()
        s.create("https://example.com/idle", customSlug="idle")
        b50, b99 = baseline(s, "/idle")
        rss0 = vmrss_kib(s.proc.pid)
        fds0 = nfds(s.proc.pid)
        req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        socks = []
        t_open = time.monotonic()
        for i in range(0, N_IDLE, 100):  # 100 at a time: connect, ask, read the answer
            batch = [socket.create_connection(("127.0.0.1", s.port), timeout=10)
                     for _ in range(min(100, N_IDLE - i))]
            for c in batch:
                c.sendall(req)
            for c in batch:
                a = c.recv(4096)
                assert status_of(a) == 200, a[:80]
            socks += batch
        opened = time.monotonic() - t_open
        assert opened < idle - 2, f"opening took {opened:.1f} s, longer than the idle timeout"
        rss1 = vmrss_kib(s.proc.pid)
        fds1 = nfds(s.proc.pid)
        per_conn = (rss1 - rss0) * 1024 / N_IDLE
        # new clients are still served, and quickly
        lat = []
        for _ in range(30):
            t0 = time.monotonic()
            assert s.get("/idle").status_code == 302
            lat.append(time.monotonic() - t0)
        p50 = statistics.median(lat) * 1000
        assert fds1 - fds0 >= N_IDLE * 0.99
        # ...and every idle one closes at the keep-alive timeout
        deadline = t_open + idle + opened + 4
        still = 0
        for c in socks:
            if closed_at(c, t_open, deadline) is None:
                still += 1
        t_all = time.monotonic() - t_open
        for c in socks:
            c.close()
        assert still == 0, f"{still} idle connections not closed after {t_all:.1f} s"
        time.sleep(0.5)
        fds2 = nfds(s.proc.pid)
        assert fds2 <= fds0 + 5, (fds0, fds2)
        assert s.get("/health").status_code == 200
        print(f"\nFIGURE idle keep-alive: {N_IDLE} connections held (opened in {opened:.1f} s); "
              f"RSS {rss0} -> {rss1} KiB = {per_conn:.0f} bytes per idle connection "
              f"({BIN}); "
              f"new client p50 {b50:.1f} ms before, {p50:.1f} ms with them open; all closed "
              f"by {t_all:.1f} s (idle-timeout {idle} s); fds {fds0} -> {fds1} -> {fds2}")
        if os.environ.get("TEST_HTTP_ENGINE", "own") == "own":
            # issue 11: an idle connection costs at most 8 KiB (2 KiB in,
            # 2 KiB out and its record: 4.5 KiB measured); ASan's allocator
            # adds redzones to each buffer (9.4 KiB measured)
            asan = "libasan" in open(f"/proc/{s.proc.pid}/maps").read()
            assert per_conn <= (12 if asan else 8) * 1024, per_conn
        else:
            # libmicrohttpd keeps a 32 KiB pool per connection; a generous
            # bound that still catches a per-connection buffer leak
            assert per_conn < 128 * 1024
    finally:
        s.close()


# ---- descriptor exhaustion (F9) -----------------------------------------------------------------

def test_emfile_backs_off_logs_rarely_and_recovers():
    limit = 96
    s = Server()
    orig_popen = __import__("subprocess").Popen

    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    import subprocess as sp

    class LowPopen(orig_popen):
        def __init__(self, *a, **kw):
            kw["preexec_fn"] = low_nofile
            super().__init__(*a, **kw)

    sp.Popen = LowPopen
    try:
        s.start()
    finally:
        sp.Popen = orig_popen
    try:
        s.create("https://example.com/emfile", customSlug="emfile")
        req = b"GET /emfile HTTP/1.1\r\nHost: x\r\n\r\n"
        held, pending = [], None
        t_limit = None
        for _ in range(limit + 20):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(req)
            c.settimeout(1.5)
            try:
                a = c.recv(4096)
                assert status_of(a) == 302, a[:80]
                held.append(c)
            except socket.timeout:
                pending = c  # connected in the kernel's backlog, never accepted
                t_limit = time.monotonic()
                break
        assert pending is not None, f"no EMFILE with {len(held)} connections at ulimit -n {limit}"
        n_held = len(held)
        # the connections already accepted are still served
        for c in held[:10]:
            c.settimeout(5)
            c.sendall(req)
            assert status_of(c.recv(4096)) == 302
        # stay at the limit a while, new clients knocking
        extra = []
        for _ in range(10):
            try:
                e = socket.create_connection(("127.0.0.1", s.port), timeout=2)
                e.sendall(req)
                extra.append(e)
            except OSError:
                pass
            time.sleep(0.3)
        at_limit = time.monotonic() - t_limit
        # free some descriptors: the pending client is accepted and answered
        for c in held[:20]:
            c.close()
        t_free = time.monotonic()
        pending.settimeout(5)
        a = pending.recv(4096)
        recovered = time.monotonic() - t_free
        assert status_of(a) == 302, a[:80]
        for e in extra:
            e.settimeout(5)
            assert status_of(e.recv(4096)) == 302
        assert s.get("/emfile").status_code == 302
        for c in held[20:] + extra + [pending]:
            c.close()
        log = s.logtext().splitlines()
        emfile_lines = [ln for ln in log if "Error accepting" in ln or "resource limit" in ln]
        # at most about one line a second for each of the two messages
        assert len(emfile_lines) <= 2 * (at_limit + recovered + 2), emfile_lines
        print(f"\nFIGURE EMFILE: ulimit -n {limit}: {n_held} client connections held at the "
              f"limit; held connections kept being served; {len(emfile_lines)} log lines in "
              f"{at_limit:.1f} s at the limit; the waiting client was answered "
              f"{recovered * 1000:.0f} ms after 20 descriptors were freed")
    finally:
        s.close()
