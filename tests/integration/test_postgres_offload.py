"""Store reads on PostgreSQL never hold up an HTTP loop (issue 8 item 3).

On PostgreSQL every read of the store is a round trip. The routes that
read it (the REST API, YOURLS, /api/shorten, /ready, track, QR, previews,
and a redirect's miss that cannot go on the loop's lookup connection) run
on the server's store threads; the loop goes on with its other connections
and sends the answer when the thread has made it. Here, with one HTTP
thread: a REST read waiting on a frozen PostgreSQL leaves /health and the
other pages answering at once; a visit export streamed in many blocks (each
made on a store thread) arrives whole; REST reads and writes interleaved
with redirects all get their own answers. scripts/run-tests runs this file
under both HTTP engines (the own one, and libmicrohttpd: there the
connection is suspended while a store thread runs its handler).
"""
import concurrent.futures as cf
import json
import threading
import time
import uuid

import pytest

from pgfix import cluster_url, instance, until
from test_postgres_faults import ANSWER_BOUND, RECOVERY_BOUND, Cluster, FreezableProxy


@pytest.fixture
def own_cluster():
    c = Cluster()
    yield c
    c.stop()


def one_loop(db):
    s = instance(db)
    s.threads = 1
    return s


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def test_a_rest_read_waiting_on_postgres_leaves_the_loop_serving(own_cluster):
    proxy = FreezableProxy(own_cluster.port)
    s = one_loop(f"postgres://shorty@127.0.0.1:{proxy.port}/shorty")
    try:
        s.start()
        s.create("https://offload.example/a")
        assert s.api("GET", "/short-urls").status_code == 200
        proxy.frozen.set()
        slow = []

        def list_links():
            slow.append(timed(lambda: s.api("GET", "/short-urls", timeout=15)))

        # three lists wait on the frozen connection: waited for in the loop
        # one after the other, they would hold it 3 x 1.5 s
        ths = [threading.Thread(target=list_links) for _ in range(3)]
        for th in ths:
            th.start()
        time.sleep(0.3)
        assert all(th.is_alive() for th in ths)
        # the loop the lists came through answers the rest meanwhile
        for path in ("/health", "/", "/metrics"):
            r, took = timed(lambda: s.get(path, timeout=15))
            assert r.status_code == 200, (path, r.status_code)
            assert took < 1.0, (path, took)
        for th in ths:
            th.join(20)
        for r, t in slow:
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After")
            assert t < ANSWER_BOUND, t
        proxy.frozen.clear()
        back = until(lambda: s.api("GET", "/short-urls", timeout=15).status_code == 200,
                     RECOVERY_BOUND + 5)
        assert back is not None and back < RECOVERY_BOUND, back
    finally:
        s.close()
        proxy.close()


def test_ready_waiting_on_postgres_leaves_the_loop_serving(own_cluster):
    """/ready pings the store: a probe stuck on a frozen connection is
    answered 503 at the deadline, and /health meanwhile at once."""
    proxy = FreezableProxy(own_cluster.port)
    s = one_loop(f"postgres://shorty@127.0.0.1:{proxy.port}/shorty")
    try:
        s.start()
        assert s.get("/ready").status_code == 200
        proxy.frozen.set()
        out = {}
        th = threading.Thread(target=lambda: out.update(r=s.get("/ready", timeout=15)))
        th.start()
        time.sleep(0.3)
        r, took = timed(lambda: s.get("/health", timeout=15))
        assert (r.status_code, took < 1.0) == (200, True), took
        th.join(20)
        assert out["r"].status_code == 503
        proxy.frozen.clear()
    finally:
        s.close()
        proxy.close()


def test_a_visit_export_streamed_from_store_threads_arrives_whole():
    """Every visit of a link (no itemsPerPage: streamed, 32 KiB a block):
    each block is read from PostgreSQL on a store thread."""
    s = one_loop(cluster_url())
    try:
        s.start()
        code = s.create("https://stream.example/" + uuid.uuid4().hex[:8])["shortCode"]
        n = 700
        ua = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) offload-stream " + "x" * 120}
        with cf.ThreadPoolExecutor(8) as ex:
            codes = list(ex.map(lambda _: s.get("/" + code, headers=ua).status_code, range(n)))
        assert codes == [302] * n
        until(lambda: s.api("GET", f"/short-urls/{code}").json()["visitsSummary"]["total"] == n,
              10)
        r = s.api("GET", f"/short-urls/{code}/visits", timeout=30)
        assert r.status_code == 200
        assert r.headers.get("Transfer-Encoding") == "chunked"
        assert len(r.content) > 4 * 32 * 1024  # several blocks
        visits = json.loads(r.content)["visits"]
        assert visits["pagination"]["totalItems"] == n
        assert len(visits["data"]) == n
        assert {v["userAgent"] for v in visits["data"]} == {ua["User-Agent"]}
    finally:
        s.close()


def test_rest_reads_writes_and_redirects_interleaved_each_get_their_answer():
    """Many clients on one loop: creates (deferred to the writer from a
    store thread), reads of each link (store threads) and redirects (the
    loop, or its lookup connection) at once: every answer is the right one."""
    s = one_loop(cluster_url())
    try:
        s.start()

        def one(i):
            url = f"https://mix.example/{i}-{uuid.uuid4().hex[:6]}"
            r = s.api("POST", "/short-urls", json={"longUrl": url})
            assert r.status_code == 200, r.text
            code = r.json()["shortCode"]
            got = s.api("GET", f"/short-urls/{code}")
            assert (got.status_code, got.json()["longUrl"]) == (200, url)
            red = s.get("/" + code)
            assert (red.status_code, red.headers["Location"]) == (302, url)
            return code

        with cf.ThreadPoolExecutor(16) as ex:
            codes = list(ex.map(one, range(300)))
        assert len(set(codes)) == 300
    finally:
        s.close()
