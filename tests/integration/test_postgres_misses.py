"""Cache misses on PostgreSQL that do not block a worker (issue 8 item 3).

A redirect whose link is not in the cache is sent on the worker's lookup
connection (libpq's pipeline) and its HTTP connection parked until the row
comes; the worker serves other requests meanwhile. Here: with the cache off
(--cache-entries 0: every redirect is a miss) and one worker thread, many
misses in flight at once each get their own answer (the right Location,
404 for an unknown code); misses while PostgreSQL is stopped answer 503
with Retry-After and come back on their own; a frozen connection (the test
proxy paused) is cut by the deadline, the waiting requests answer 503;
a loop whose lookup connection could not be made when it started gets it
with a later miss (the proxy refusing that connection at start).
"""
import concurrent.futures as cf
import socket
import struct
import threading
import time
import uuid

import pytest

from httpfix import report
from pgfix import cluster_url, instance, psql, until
from test_postgres_faults import ANSWER_BOUND, RECOVERY_BOUND, Cluster, FreezableProxy


@pytest.fixture
def own_cluster():
    c = Cluster()
    yield c
    c.stop()


def one_worker(db):
    """An instance with one HTTP thread and no cache: every redirect is a miss."""
    s = instance(db)
    s.threads = 1
    s.extra_env["SHORTY_CACHE_ENTRIES"] = "0"
    return s


def pipelined(port, codes):
    """Sends GET /<code> for every code on one connection without waiting
    (HTTP pipelining), then reads the answers: [(status, location)] in order."""
    req = b"".join(f"GET /{c} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for c in codes)
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sk:
        sk.sendall(req)
        buf, out = b"", []
        while len(out) < len(codes):
            while b"\r\n\r\n" not in buf:
                data = sk.recv(65536)
                assert data, f"closed after {len(out)} answers"
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            hdr = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
            n = int(hdr.get("content-length", "0"))
            while len(buf) < n:
                buf += sk.recv(65536)
            buf = buf[n:]
            out.append((int(lines[0].split()[1]), hdr.get("location")))
        return out


def test_many_concurrent_misses_on_one_worker_each_get_their_answer():
    s = one_worker(cluster_url())
    try:
        s.start()
        links = {}
        for i in range(120):
            url = f"https://miss.example/{i}?k={i}"
            links[s.create(url)["shortCode"]] = url
        # a custom code too (found by the codes table, not by the id)
        slug = "pgmiss-" + uuid.uuid4().hex[:8]  # the run's database is shared
        r = s.api("POST", "/short-urls",
                  json={"longUrl": "https://miss.example/custom", "customSlug": slug})
        assert r.status_code == 200, r.text
        links[slug] = "https://miss.example/custom"
        unknown = [f"nope{i}x{uuid.uuid4().hex[:6]}" for i in range(30)]
        codes = list(links) + unknown
        # 8 clients at once, each pipelining every code in its own order:
        # hundreds of misses in flight on the one worker
        orders = [codes[k:] + codes[:k] for k in range(0, 8 * 17, 17)]
        t0 = time.monotonic()
        with cf.ThreadPoolExecutor(8) as ex:
            answers = list(ex.map(lambda o: pipelined(s.port, o), orders))
        took = time.monotonic() - t0
        for order, got in zip(orders, answers):
            for code, (status, loc) in zip(order, got):
                if code in links:
                    assert (status, loc) == (302, links[code]), (code, status, loc)
                else:
                    assert status == 404, (code, status, loc)
        report("pg_concurrent_misses", {"requests": sum(map(len, orders)), "s": round(took, 3)})
        assert s.get("/health").status_code == 200
    finally:
        s.close()


def test_misses_while_postgres_is_stopped_answer_503_then_recover(own_cluster):
    s = one_worker(own_cluster.url)
    try:
        s.start()
        code = s.create("https://stopped.example/x")["shortCode"]
        assert s.get("/" + code).headers["Location"] == "https://stopped.example/x"
        own_cluster.crash()
        times = []
        for _ in range(4):
            t0 = time.monotonic()
            r = s.get("/" + code, timeout=15)
            times.append(round(time.monotonic() - t0, 3))
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After"), r.headers
        assert s.get("/health").status_code == 200
        own_cluster.restart()
        back = until(lambda: s.get("/" + code, timeout=15).status_code == 302,
                     RECOVERY_BOUND + 5)
        report("pg_miss_while_down", {"miss_503_s": times, "recovery_s": back})
        assert max(times) < ANSWER_BOUND, times
        assert back is not None and back < RECOVERY_BOUND, back
        assert s.get("/" + code).headers["Location"] == "https://stopped.example/x"
    finally:
        s.close()


def test_frozen_lookup_connection_is_cut_by_the_deadline(own_cluster):
    proxy = FreezableProxy(own_cluster.port)
    s = one_worker(f"postgres://shorty@127.0.0.1:{proxy.port}/shorty")
    try:
        s.start()
        code = s.create("https://frozen.example/miss")["shortCode"]
        assert s.get("/" + code).status_code == 302
        proxy.frozen.set()
        # several misses wait together on the frozen connection
        t0 = time.monotonic()
        with cf.ThreadPoolExecutor(4) as ex:
            rs = list(ex.map(lambda _: s.get("/" + code, timeout=15), range(4)))
        took = time.monotonic() - t0
        assert [r.status_code for r in rs] == [503] * 4, [r.text for r in rs]
        assert all(r.headers.get("Retry-After") for r in rs)
        assert s.get("/health").status_code == 200
        proxy.frozen.clear()
        back = until(lambda: s.get("/" + code, timeout=15).status_code == 302,
                     RECOVERY_BOUND + 5)
        report("pg_frozen_miss", {"misses_503_s": round(took, 3), "recovery_s": back})
        assert took < ANSWER_BOUND, took
        assert back is not None and back < RECOVERY_BOUND, back
    finally:
        s.close()
        proxy.close()


def metric(s, name):
    for line in s.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def test_a_miss_answered_later_is_cached():
    """The answer of a miss that waited on the lookup connection fills the
    cache as a blocking miss does: the next redirect of the code is a hit."""
    s = instance(cluster_url())
    s.threads = 1
    try:
        s.start()
        code = s.create("https://cached.example/later")["shortCode"]
        time.sleep(0.2)  # the create's own notification has come back
        hits, misses = metric(s, "shorty_cache_hits_total"), metric(s, "shorty_cache_misses_total")
        for _ in range(3):
            r = s.get("/" + code)
            assert (r.status_code, r.headers["Location"]) == (302, "https://cached.example/later")
        assert metric(s, "shorty_cache_misses_total") - misses == 1
        assert metric(s, "shorty_cache_hits_total") - hits == 2
        # an unknown code's negative entry too
        unknown = "nolink" + uuid.uuid4().hex[:8]
        assert [s.get("/" + unknown).status_code for _ in range(2)] == [404, 404]
        assert metric(s, "shorty_cache_hits_total") - hits == 3
    finally:
        s.close()


class RefusingProxy(FreezableProxy):
    """The test proxy, reading each session's startup packet: while
    `refusing` is set it closes the sessions whose application_name is
    `app` (shorty names its lookup connections "shorty-lookups"):
    PostgreSQL away for that connection alone, at the moment the loop opens
    it, without timing games. The cluster has no TLS, so a TLS or GSS
    request is answered "N" here, as the server would."""

    def __init__(self, target_port, app):
        self.app = app
        self.refusing = threading.Event()
        self.refusing.set()
        self.refused = 0
        self.passed = []  # application_name of each session let through
        super().__init__(target_port)

    @staticmethod
    def _read(c, n):
        b = b""
        while len(b) < n:
            d = c.recv(n - len(b))
            if not d:
                raise OSError("closed")
            b += d
        return b

    def _first(self, c):
        while True:
            n = struct.unpack("!I", self._read(c, 4))[0]
            body = self._read(c, n - 4)
            if n == 8 and struct.unpack("!I", body)[0] in (80877103, 80877104):
                c.sendall(b"N")  # TLS or GSS request
                continue
            break
        kv = body[4:].split(b"\0")  # after the protocol version
        app = dict(zip(kv[0::2], kv[1::2])).get(b"application_name", b"").decode()
        if app == self.app and self.refusing.is_set():
            self.refused += 1
            return None
        self.passed.append(app)
        return struct.pack("!I", n) + body


def pipelined_again(s, code):
    """Seconds until a redirect of code answers 302 through the lookup
    connection (the pipelined count moves), or None past the bound."""
    def once():
        n = metric(s, "shorty_store_misses_pipelined_total")
        r = s.get("/" + code, timeout=15)
        return r.status_code == 302 and metric(s, "shorty_store_misses_pipelined_total") > n
    return until(once, RECOVERY_BOUND + 5, step=0.05)


def test_a_loop_without_its_lookup_connection_at_start_gets_it_later(own_cluster):
    """The loop's lookup connection cannot be made when the loop starts
    (PostgreSQL away then, for that connection: the proxy refuses it). Once
    it can, the misses go on it, pipelined, not the waiting way: each miss
    counts in shorty_store_misses_pipelined_total. Before, the loop read
    every miss the waiting way until shorty restarted."""
    proxy = RefusingProxy(own_cluster.port, "shorty-lookups")
    s = one_worker(f"postgres://shorty@127.0.0.1:{proxy.port}/shorty")
    try:
        s.start()
        assert until(lambda: proxy.refused >= 1, 10) is not None, proxy.passed
        code = s.create("https://later.example/lookup")["shortCode"]
        assert s.get("/health").status_code == 200
        proxy.refusing.clear()
        back = pipelined_again(s, code)
        assert back is not None and back < RECOVERY_BOUND, back
        assert "shorty-lookups" in proxy.passed, proxy.passed
        # every miss (the cache is off) goes on the lookup connection now
        n = metric(s, "shorty_store_misses_pipelined_total")
        for _ in range(5):
            r = s.get("/" + code)
            assert (r.status_code, r.headers["Location"]) == (302, "https://later.example/lookup")
        assert metric(s, "shorty_store_misses_pipelined_total") - n == 5
        report("pg_lookups_late", {"refused": proxy.refused, "recovery_s": back})
    finally:
        s.close()
        proxy.close()


def test_the_lookup_connection_is_made_again_off_the_loop(own_cluster):
    """The lookup connection is lost, and PostgreSQL does not answer when it
    is made again (the proxy frozen: a connect waits to its deadline, 1.5 s
    each of three tries). The loop does not make it: a store thread does,
    and the miss that found it down is read there, so the loop answers
    /health at once meanwhile. Once PostgreSQL answers, the misses go on the
    lookup connection again (the pipelined count moves)."""
    proxy = FreezableProxy(own_cluster.port)
    s = one_worker(f"postgres://shorty@127.0.0.1:{proxy.port}/shorty")
    try:
        s.start()
        code = s.create("https://rejoin.example/x")["shortCode"]
        n = metric(s, "shorty_store_misses_pipelined_total")
        assert s.get("/" + code).status_code == 302
        assert metric(s, "shorty_store_misses_pipelined_total") == n + 1
        psql(own_cluster.url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                              " WHERE application_name = 'shorty-lookups'")
        time.sleep(0.3)  # the loop sees its connection closed
        proxy.frozen.set()
        out = {}
        th = threading.Thread(target=lambda: out.update(r=s.get("/" + code, timeout=15)))
        th.start()
        time.sleep(0.2)  # that miss finds the connection down
        took = []
        for _ in range(3):
            t0 = time.monotonic()
            assert s.get("/health", timeout=15).status_code == 200
            took.append(time.monotonic() - t0)
            time.sleep(0.3)
        th.join(20)
        assert out["r"].status_code == 503, out["r"].text
        assert out["r"].headers.get("Retry-After")
        assert max(took) < 1.0, took
        proxy.frozen.clear()
        back = pipelined_again(s, code)
        assert back is not None and back < RECOVERY_BOUND, back
        report("pg_lookups_rejoin", {"health_s": [round(t, 3) for t in took], "recovery_s": back})
    finally:
        s.close()
        proxy.close()
