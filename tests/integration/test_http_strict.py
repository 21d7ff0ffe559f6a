"""Strict HTTP through real sockets on the engine of our own
(`--http-engine own`, issue 11 item 3, issue 12 item 10): every framing
that a proxy in front could read another way is answered 400 (413 for a
chunk size past the body limit) and the connection closed at once, never
passed on as a request; pipelined requests are answered in order."""
import re
import socket
import time

import pytest

from httpfix import Server


@pytest.fixture(scope="module")
def own():
    s = Server(env={"SHORTY_HTTP_ENGINE": "own"})
    s.start()
    assert "own HTTP engine" in s.logtext()
    s.create("https://example.com/strict", customSlug="strict")
    yield s
    s.close()


def exchange(srv, raw, wait=5.0):
    """Sends raw, reads until the server closes (or wait passes): (bytes,
    seconds until the close, closed?)."""
    c = socket.create_connection(("127.0.0.1", srv.port), timeout=wait)
    t0 = time.monotonic()
    c.sendall(raw)
    got, closed = b"", False
    try:
        while True:
            d = c.recv(65536)
            if not d:
                closed = True
                break
            got += d
    except socket.timeout:
        pass
    finally:
        c.close()
    return got, time.monotonic() - t0, closed


def statuses(raw):
    """The status of every answer in raw (a body does not end in CRLF: the
    next status line follows it on the same line)."""
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]


STRICT = {
    "nul_in_header_value": b"GET /strict HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "bare_lf_request_line": b"GET /strict HTTP/1.1\nHost: x\r\n\r\n",
    "bare_lf_header": b"GET /strict HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
    "bare_cr": b"GET /strict HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n",
    "obs_fold": b"GET /strict HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n",
    "space_before_colon": b"GET /strict HTTP/1.1\r\nHost : x\r\n\r\n",
    "two_content_length": (b"POST /api/shorten HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                           b"Content-Length: 2\r\n\r\n{}"),
    "cl_and_te": (b"POST /api/shorten HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "te_in_http10": (b"POST /api/shorten HTTP/1.0\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "bad_chunk_size": (b"POST /api/shorten HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    "bare_lf_in_chunked": (b"POST /api/shorten HTTP/1.1\r\nHost: x\r\nContent-Type: "
                           b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\n{}\r\n0\r\n\r\n"),
    "empty_field_name": b"GET /strict HTTP/1.1\r\nHost: x\r\n: value\r\n\r\n",
    "two_hosts": b"GET /strict HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "no_host_11": b"GET /strict HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(STRICT))
def test_strict_framing_is_400_and_close(own, name):
    # a request smuggled behind the bad one must never be answered
    raw = STRICT[name] + b"GET /strict HTTP/1.1\r\nHost: x\r\n\r\n"
    got, took, closed = exchange(own, raw)
    assert statuses(got) == [400], (name, got[:200])
    assert b"Connection: close" in got and b"application/problem+json" in got
    assert closed and took < 3, (name, took)
    assert own.get("/health").status_code == 200


def test_chunk_size_overflow_is_a_prompt_413(own):
    raw = (b"POST /api/shorten HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n")
    got, took, closed = exchange(own, raw)
    assert statuses(got) == [413], got[:200]
    assert closed and took < 3, took  # not at the body deadline (10 s)


def test_version_and_coding(own):
    got, _, closed = exchange(own, b"GET /strict HTTP/1.2\r\nHost: x\r\n\r\n")
    assert statuses(got) == [505] and closed
    got, _, closed = exchange(own, b"POST /api/shorten HTTP/1.1\r\nHost: x\r\n"
                                   b"Transfer-Encoding: gzip\r\n\r\n")
    assert statuses(got) == [501] and closed


def test_pipelined_requests_answered_in_order(own):
    # a read, a write deferred to the writer, a 404, a HEAD, then close:
    # the answers come in the order asked, the write's too
    body = b'{"longUrl":"https://example.com/pipelined"}'
    raw = (b"GET /strict HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /api/shorten HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body +
           b"GET /no-such-code-here HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n"
           b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got, took, closed = exchange(own, raw)
    assert statuses(got) == [302, 200, 404, 200, 200], got
    assert closed and took < 5
    assert b"https://example.com/pipelined" in got
    # the HEAD answer has its length and no body: the next answer follows it
    head = got.split(b"HTTP/1.1 200 OK", 3)[2]
    assert b"Content-Length: 15\r\n" in head
    assert head.split(b"\r\n\r\n", 1)[1] == b""


def test_expect_100_continue_and_chunked_body(own):
    body = b'{"longUrl":"https://example.com/chunked-expect"}'
    c = socket.create_connection(("127.0.0.1", own.port), timeout=5)
    try:
        c.sendall(b"POST /api/shorten HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert c.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.sendall(b"%x\r\n%s\r\n" % (len(body) - 10, body[:-10]))
        c.sendall(b"a\r\n" + body[-10:] + b"\r\n0\r\n\r\n")
        got = b""
        while b"chunked-expect" not in got:
            d = c.recv(4096)
            assert d, got
            got += d
        assert statuses(got) == [200]
    finally:
        c.close()


def test_keep_alive_and_http10(own):
    c = socket.create_connection(("127.0.0.1", own.port), timeout=5)
    try:
        for _ in range(3):  # one connection, three answers
            c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith(b'{"status":"ok"}'):
                d = c.recv(4096)
                assert d, got
                got += d
            assert statuses(got) == [200]
    finally:
        c.close()
    got, _, closed = exchange(own, b"GET /health HTTP/1.0\r\n\r\n")
    assert statuses(got) == [200] and closed and b"Connection: close" in got
