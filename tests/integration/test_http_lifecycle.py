"""Life of the service: graceful stop (no visit lost), restart, concurrency
(group commit under 64 creators while others redirect), store failures."""
import os
import signal
import socket
import threading
import time

import requests

from helpers import run_cli
from httpfix import Server, assert_problem, wait_flush


def test_sigterm_loses_no_visit():
    s = Server()
    try:
        s.start()
        link = s.create("https://example.com/durable")
        n = 40
        sess = requests.Session()
        for _ in range(n):
            assert sess.get(s.url("/" + link["shortCode"]), allow_redirects=False).status_code == 302
        sess.close()
        t0 = time.time()
        s.stop()  # right away: the visits are still in the workers' buffers
        assert time.time() - t0 < 10
        s.start()
        got = s.api("GET", "/short-urls/" + link["shortCode"]).json()
        assert got["visitsSummary"]["total"] == n
        # and the restarted service serves the link
        assert s.get("/" + link["shortCode"]).headers["Location"] == link["longUrl"]
    finally:
        s.close()


def test_sigint_also_stops_cleanly():
    s = Server()
    try:
        s.start()
        os.kill(s.proc.pid, signal.SIGINT)
        assert s.proc.wait(timeout=10) == 0
        s.proc = None
        s._logf.close()
    finally:
        s.close()


def test_stop_with_idle_keepalive_connections():
    s = Server()
    try:
        s.start()
        sessions = [requests.Session() for _ in range(5)]
        for x in sessions:
            assert x.get(s.url("/health")).status_code == 200  # left open
        t0 = time.time()
        s.stop()
        assert time.time() - t0 < 10
        for x in sessions:
            x.close()
    finally:
        s.close()


def test_stop_under_traffic_answers_the_request_in_flight_and_exits_0():
    """SIGTERM while clients keep opening connections: the request already
    begun is answered, connections after the signal get no answer, and the
    process exits 0 every time (libmicrohttpd's quiesce raced its epoll
    workers and aborted the process once in CI; we no longer call it)."""
    s = Server()
    try:
        for round_ in range(6):
            s.start()
            body = b'{"longUrl": "https://example.com/in-flight/%d"}' % round_
            head = (b"POST /rest/v3/short-urls HTTP/1.1\r\nHost: x\r\n"
                    b"X-Api-Key: " + s.admin_key.encode() + b"\r\n"
                    b"Content-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(body))
            pending = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            pending.sendall(head + body[:10])
            time.sleep(0.1)  # the server has the headers: a request in flight

            stop = threading.Event()
            bad = []

            def hammer():
                while not stop.is_set():
                    try:
                        r = requests.get(s.url("/health"), timeout=5,
                                         headers={"Connection": "close"})
                        if r.status_code != 200:
                            bad.append(r.status_code)
                    except requests.RequestException:
                        pass  # refused or closed once stopping: fine

            ts = [threading.Thread(target=hammer) for _ in range(3)]
            for t in ts:
                t.start()
            time.sleep(0.2)
            os.kill(s.proc.pid, signal.SIGTERM)
            time.sleep(0.3)
            try:
                late = s.raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            except ConnectionError:  # refused or reset: no answer either
                late = b""
            pending.sendall(body[10:])
            answer = b""
            while True:
                b = pending.recv(65536)
                if not b:
                    break
                answer += b
            pending.close()
            stop.set()
            for t in ts:
                t.join()
            rc = s.proc.wait(timeout=10)
            s.proc = None
            s._logf.close()
            assert rc == 0, f"round {round_}: exit {rc}:\n{s.logtext()}"
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            assert b"in-flight/%d" % round_ in answer
            assert late == b"", f"served after SIGTERM: {late[:80]!r}"
            assert not bad, bad[:5]
        # every answered create was kept
        s.start()
        for round_ in range(6):
            r = s.api("GET", "/short-urls", params={"searchTerm": "in-flight/%d" % round_})
            assert r.json()["shortUrls"]["pagination"]["totalItems"] == 1
    finally:
        s.close()


def test_64_creators_while_redirecting():
    s = Server(threads=4)
    try:
        s.start()
        seed = s.create("https://example.com/seed")
        results, errors = [], []
        lock = threading.Lock()
        stop = threading.Event()

        def creator(i):
            sess = requests.Session()
            for j in range(5):
                url = f"https://example.com/c/{i}/{j}"
                r = sess.post(s.url("/rest/v3/short-urls"), json={"longUrl": url},
                              headers={"X-Api-Key": s.admin_key}, timeout=30)
                with lock:
                    if r.status_code == 200:
                        results.append((url, r.json()["shortCode"]))
                    else:
                        errors.append((r.status_code, r.text))

        def redirector():
            sess = requests.Session()
            while not stop.is_set():
                r = sess.get(s.url("/" + seed["shortCode"]), allow_redirects=False, timeout=30)
                if r.status_code != 302:
                    with lock:
                        errors.append(("redirect", r.status_code))

        reds = [threading.Thread(target=redirector) for _ in range(4)]
        for t in reds:
            t.start()
        creators = [threading.Thread(target=creator, args=(i,)) for i in range(64)]
        for t in creators:
            t.start()
        for t in creators:
            t.join()
        stop.set()
        for t in reds:
            t.join()
        assert not errors, errors[:5]
        assert len(results) == 64 * 5
        codes = [c for _, c in results]
        assert len(set(codes)) == len(codes), "duplicate codes"
        sess = requests.Session()
        for url, code in results:
            r = sess.get(s.url("/" + code), allow_redirects=False)
            assert r.status_code == 302 and r.headers["Location"] == url
        m = s.get("/metrics").text
        assert "shorty_links_created_total 321" in m or "shorty_links_created_total 320" in m
    finally:
        s.close()


def test_store_failure_is_503_not_500():
    # every link insert fails as a store error (store.h fault injection)
    s = Server(env={"SHORTY_FAULT": "link_insert:0:-1:-7"})
    try:
        s.start()
        r = s.api("POST", "/short-urls", json={"longUrl": "https://example.com/fails"})
        assert_problem(r, 503)
        assert "Retry-After" in r.headers
        r = requests.post(s.url("/api/shorten"), json={"url": "https://example.com/fails"})
        assert r.status_code == 503
        assert s.get("/health").status_code == 200
        assert s.api("GET", "/short-urls").json()["shortUrls"]["pagination"]["totalItems"] == 0
    finally:
        s.close()


def test_one_failed_write_does_not_fail_the_batch():
    s = Server()
    try:
        s.start()
        s.create("https://example.com/taken", customSlug="batch-taken")
        out = {}

        def post(i):
            body = {"longUrl": f"https://example.com/b/{i}"}
            if i % 4 == 0:
                body["customSlug"] = "batch-taken"
            out[i] = requests.post(s.url("/rest/v3/short-urls"), json=body,
                                   headers={"X-Api-Key": s.admin_key}, timeout=30)

        ts = [threading.Thread(target=post, args=(i,)) for i in range(32)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for i, r in out.items():
            if i % 4 == 0:
                assert_problem(r, 400, "non-unique-slug")
            else:
                assert r.status_code == 200
                code = r.json()["shortCode"]
                assert s.get("/" + code).headers["Location"] == f"https://example.com/b/{i}"
    finally:
        s.close()


def test_deleted_code_is_not_reissued():
    s = Server()
    try:
        s.start()
        a = s.create("https://example.com/first")
        s.get("/" + a["shortCode"])
        assert s.api("DELETE", "/short-urls/" + a["shortCode"]).status_code == 204
        b = s.create("https://example.com/second")
        wait_flush()
        assert b["shortCode"] != a["shortCode"]
        assert s.api("GET", "/short-urls/" + b["shortCode"]).json()["visitsSummary"]["total"] == 0
    finally:
        s.close()


def test_port_in_use_is_a_failure_not_a_usage_error():
    s = Server()
    try:
        s.start()
        p = run_cli("serve", "--listen", f"127.0.0.1:{s.port}", env=s.env(), cwd=s.dir,
                    timeout=30)
        assert p.returncode == 1, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("shorty: cannot listen on"), p.stderr
        assert "already in use" in lines[0]
        assert s.get("/health").status_code == 200  # the first server is untouched
    finally:
        s.close()
