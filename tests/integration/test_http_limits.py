"""Limits and bad input on the HTTP service: 413, 414, 415, 429, 431, and the
bad-input catalogue groups C-G (research/reliability-security.md §5) that
apply to these routes. Each case checks the status, the problem+json body
where shorty answers, that nothing was stored, and that the next request is
served normally."""
import json

import requests

from helpers import link_count, still_serves
from httpfix import Server, assert_problem, srv, status_of, wait_flush  # noqa: F401

GOOD = {"longUrl": "https://example.com/ok"}


def post_raw_json(srv, body, ctype="application/json", path="/rest/v3/short-urls"):
    return requests.post(srv.url(path), data=body,
                         headers={"X-Api-Key": srv.admin_key, "Content-Type": ctype})


def test_414_request_line(srv):
    raw = srv.raw(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(raw) == 414
    assert b"application/problem+json" in raw and b"nosniff" in raw
    r = srv.get("/" + "b" * 8100)  # under the limit: a normal 404
    assert r.status_code == 404
    still_serves(srv)


def test_431_headers(srv):
    many = b"".join(b"X-F%d: y\r\n" % i for i in range(101))
    raw = srv.raw(b"GET /health HTTP/1.1\r\nHost: x\r\n" + many + b"Connection: close\r\n\r\n")
    assert status_of(raw) == 431
    raw = srv.raw(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 17000 +
                  b"\r\nConnection: close\r\n\r\n")
    assert status_of(raw) == 431
    assert b"problem+json" in raw
    # far over (past the 32 KiB connection memory): libmicrohttpd's own
    # answer, still 431
    raw = srv.raw(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 200000 + b"\r\n\r\n")
    assert status_of(raw) == 431
    # E3: a 1 MB API key
    raw = srv.raw(b"GET /rest/v3/short-urls HTTP/1.1\r\nHost: x\r\nX-Api-Key: " + b"k" * 1000000
                  + b"\r\n\r\n")
    assert status_of(raw) == 431  # the header block is over its limit before the target is
    # 100 fields are fine
    hdrs = {f"X-F{i}": "y" for i in range(90)}
    assert requests.get(srv.url("/health"), headers=hdrs).status_code == 200
    still_serves(srv)


def test_431_header_total_is_16_kib(srv):
    # HTTP_HEADERS_MAX: 16 KiB of names and values (name + value + 4 bytes
    # each), checked by shorty itself: problem+json
    host = len(b"Host") + 1 + 4
    close = len(b"Connection") + len(b"close") + 4
    for size, want in ((16384 - host - close - 5 - 4, 200), (16384 - host - close - 5 - 3, 431)):
        raw = srv.raw(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " +
                      b"y" * size + b"\r\n\r\n")
        assert status_of(raw) == want, (size, raw[:60])
    assert b"problem+json" in raw
    # the longest request line with the most header bytes still gets its answer
    raw = srv.raw(b"GET /" + b"a" * 8190 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                  b"".join(b"X-%02d: " % i + b"y" * 150 + b"\r\n" for i in range(98)) + b"\r\n")
    assert status_of(raw) == 404
    still_serves(srv)


def test_414_redirect_target_too_long_to_send(srv):
    # a long stored URL plus a long forwarded query (each '|' is sent as
    # %7C) would not fit in the connection's 32 KiB: 414, not a silent close
    r = srv.api("POST", "/short-urls", json={"longUrl": "https://example.com/" + "p" * 8000})
    assert r.status_code == 200
    code = r.json()["shortCode"].encode()
    raw = srv.raw(b"GET /" + code + b"?" + b"|" * 7000 + b" HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
    assert status_of(raw) == 414 and b"problem+json" in raw
    raw = srv.raw(b"GET /" + code + b"?" + b"|" * 1000 + b" HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
    assert status_of(raw) == 302 and b"%7C" * 1000 in raw
    still_serves(srv)


def test_413_body(srv):
    before = link_count(srv)
    big = json.dumps({"longUrl": "https://example.com/" + "a" * 70000})
    r = post_raw_json(srv, big)
    assert_problem(r, 413)
    # chunked, no Content-Length
    def gen():
        for _ in range(20):
            yield b"a" * 4096
    r = requests.post(srv.url("/rest/v3/short-urls"), data=gen(),
                      headers={"X-Api-Key": srv.admin_key, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert link_count(srv) == before
    still_serves(srv)


def test_415_media_type(srv):
    before = link_count(srv)
    for ctype in ("text/plain", "application/x-www-form-urlencoded",
                  "application/json; charset=latin1", "application/jsonx"):
        r = post_raw_json(srv, json.dumps(GOOD), ctype)
        assert_problem(r, 415)
    r = requests.post(srv.url("/rest/v3/short-urls"), data=json.dumps(GOOD).encode(),
                      headers={"X-Api-Key": srv.admin_key})
    assert r.status_code == 415
    r = requests.patch(srv.url("/rest/v3/short-urls/whatever"), data="{}",
                       headers={"X-Api-Key": srv.admin_key, "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert post_raw_json(srv, json.dumps(GOOD), "application/json; charset=UTF-8").status_code == 200
    assert link_count(srv) == before + 1


def test_429_anonymous_rate_limit():
    s = Server(env={"SHORTY_RATE_LIMIT": "3"})
    try:
        s.start()
        codes = []
        for i in range(3):
            r = requests.post(s.url("/api/shorten"), json={"url": f"https://example.com/rl{i}"})
            codes.append(r.status_code)
        assert codes == [200, 200, 200]
        r = requests.post(s.url("/api/shorten"), json={"url": "https://example.com/rl9"})
        assert_problem(r, 429)
        assert int(r.headers["Retry-After"]) >= 1
        # G2: X-Forwarded-For from an untrusted peer changes nothing
        r = requests.post(s.url("/api/shorten"), json={"url": "https://example.com/rl10"},
                          headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 429
        r = requests.post(s.url("/api/shorten"), data={"url": "https://example.com/rl11"})
        assert r.status_code == 429 and "Retry-After" in r.headers
        # the REST API (with a key) is not limited
        s.create("https://example.com/with-key")
        assert s.get("/health").status_code == 200
    finally:
        s.close()


def test_trusted_proxy_xff():
    s = Server(env={"SHORTY_RATE_LIMIT": "1", "SHORTY_TRUSTED_PROXIES": "127.0.0.1/32, ::1"})
    try:
        s.start()
        for i in range(3):
            r = requests.post(s.url("/api/shorten"), json={"url": f"https://example.com/x{i}"},
                              headers={"X-Forwarded-For": f"198.51.100.{i}, 127.0.0.1"})
            assert r.status_code == 200, r.text
        r = requests.post(s.url("/api/shorten"), json={"url": "https://example.com/x9"},
                          headers={"X-Forwarded-For": "198.51.100.0"})
        assert r.status_code == 429
        # 1000 entries: bounded parsing, still served
        xff = ", ".join(f"10.0.{i // 250}.{i % 250}" for i in range(1000))
        r = requests.post(s.url("/api/shorten"), json={"url": "https://example.com/x10"},
                          headers={"X-Forwarded-For": xff})
        assert r.status_code == 200  # the client is the last untrusted entry, a new address
        assert s.get("/health").status_code == 200
    finally:
        s.close()


# ---- group C: JSON bodies --------------------------------------------------------

BAD_JSON = [
    b'{"longUrl":"https://a',                                               # C1 truncated
    b'{"longUrl":"https://ok.example/","longUrl":"javascript:alert(1)"}',    # C2 duplicate key
    b"[" * 30000 + b"]" * 30000,                                            # C3 deep
    b'{"a":' * 40 + b"1" + b"}" * 40,                                       # C3 depth 40
    b'\xef\xbb\xbf{"longUrl":"https://example.com/"}',                      # C8 BOM
    '{"longUrl":"https://example.com/"}'.encode("utf-16-le"),               # C8 UTF-16
    b'{"longUrl":"https://example.com/\\u0000evil"}',                      # C8 / A7 NUL
    b'{"longUrl":"https://example.com/\xc3\x28"}',                          # A17 bad UTF-8
    b'{"longUrl":"https://example.com/\xc0\xaf"}',                          # A17 overlong
    b'["https://example.com/"]',                                            # not an object
    b"",                                                                    # empty
    b"null",
]


def test_group_c_json_bodies(srv):
    before = link_count(srv)
    for body in BAD_JSON:
        r = post_raw_json(srv, body)
        assert r.status_code == 400, (body[:60], r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/problem+json")
        b = r.json()
        assert b["status"] == 400 and b["type"].startswith("https://shlink.io/api/error/")
        still_serves(srv)
    for bad in ('1e309', '-1', '1.5', 'true', '[1]'):
        r = post_raw_json(srv, '{"longUrl":"https://example.com/c4","maxVisits":%s}' % bad)
        assert r.status_code == 400, (bad, r.text)
        b = r.json()
        assert (b["type"].endswith("/malformed-request-body")
                or "maxVisits" in b.get("invalidElements", [])), b
    assert link_count(srv) == before
    # C5: mass assignment is ignored, owner and counts are ours
    r = post_raw_json(srv, json.dumps({"longUrl": "https://example.com/c5", "visits": 999,
                                       "dateCreated": "1970-01-01T00:00:00+00:00",
                                       "shortUrl": "https://evil/", "is_admin": True}))
    assert r.status_code == 200
    b = r.json()
    assert b["visitsSummary"]["total"] == 0 and not b["dateCreated"].startswith("1970")
    assert b["shortUrl"].startswith("http://localhost:8000/")


def test_group_c_on_patch_and_put(srv):
    link = srv.create("https://example.com/c-patch")
    for body in (b'{"title":"a","title":"b"}', b"[" * 50 + b"]" * 50, b"{", b"\xff"):
        r = requests.patch(srv.url("/rest/v3/short-urls/" + link["shortCode"]), data=body,
                           headers={"X-Api-Key": srv.admin_key, "Content-Type": "application/json"})
        assert r.status_code == 400
    r = requests.put(srv.url("/rest/v3/tags"), data=b'{"oldName":"a","oldName":"b","newName":"c"}',
                     headers={"X-Api-Key": srv.admin_key, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert srv.api("GET", "/short-urls/" + link["shortCode"]).json()["title"] is None


# ---- group D: request line and headers ------------------------------------------------

def test_group_d_raw_requests(srv):
    cases = [
        (b"POST /api/shorten HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),                     # D1
        (b"GET /health HTTP/1.1\r\n\r\n", 400),                                      # D11 no Host
        (b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),               # D11 two Hosts
        (b"GET http://evil/health HTTP/1.1\r\nHost: x\r\n\r\n", 400),               # D9
        (b"GET health HTTP/1.1\r\nHost: x\r\n\r\n", 400),                           # D9 no slash
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),                          # D13
    ]
    for raw, want in cases:
        got = status_of(srv.raw(raw, timeout=3))
        assert got == want, (raw[:40], got)
        still_serves(srv)
    # D12: a valid request pipelined with another is answered in order
    out = srv.raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200") == 2
    # D14: odd paths never reach an API route and never 500
    for path in (b"/caf\xc3\xa9", b"/%C0%AF", b"/%2e%2e/rest/v3/short-urls", b"//abc",
                 b"/abc/", b"/abc%00", b"/rest/v3/short-urls%2f"):
        st = status_of(srv.raw(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        assert st == 404, (path, st)


def test_keep_alive_survives(srv):
    s = requests.Session()
    for _ in range(5):
        r = s.get(srv.url("/health"))
        assert r.status_code == 200
        assert r.headers.get("Connection", "").lower() != "close"
    # an API error is an answer, not a reason to drop the connection
    r = s.post(srv.url("/rest/v3/short-urls"), json={"longUrl": "ftp://x/"},
               headers={"X-Api-Key": srv.admin_key})
    assert r.status_code == 400 and r.headers.get("Connection", "").lower() != "close"
    raw = srv.raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", timeout=1.0, read_all=True)
    assert b"Connection: close" not in raw


# ---- group E: authentication (beyond test_http_rest) -------------------------------------

def test_group_e_auth_shapes(srv):
    bodies = []
    for hdrs in ({"X-Api-Key": ""}, {"Authorization": "Basic dXNlcjpwYXNz"},
                 {"Authorization": "Bearer"}, {"X-Api-Key": "a" * 10000}):
        r = requests.get(srv.url("/rest/v3/short-urls"), headers=hdrs)
        assert r.status_code == 401, hdrs
        bodies.append(r.json()["type"])
    assert set(bodies) <= {"https://shlink.io/api/error/missing-authentication",
                           "https://shlink.io/api/error/invalid-api-key"}
    # nothing leaks the key into the answer
    r = requests.get(srv.url("/rest/v3/short-urls"), headers={"X-Api-Key": "secret-guess"})
    assert "secret-guess" not in r.text


# ---- group F: query parameters ------------------------------------------------------------

def test_group_f_query_params(srv):
    for q in ({"itemsPerPage": "abc"}, {"page": "-1"}, {"page": "9223372036854775808"},
              {"orderBy": "clicks;DROP TABLE links"}, {"startDate": "2024-13-45"},
              {"endDate": "../../etc"}):
        assert_problem(srv.api("GET", "/short-urls", params=q), 400, "invalid-data")
    r = srv.api("GET", "/short-urls", params={"itemsPerPage": "1000000"})
    assert r.status_code == 200 and r.json()["shortUrls"]["pagination"]["itemsPerPage"] <= 1000
    r = srv.api("GET", "/short-urls", params={"searchTerm": "%_"})
    assert r.status_code == 200
    r = srv.api("GET", "/short-urls", params={"callback": "alert(1)//"})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert srv.api("GET", "/short-urls", params={"searchTerm": "x" * 600}).status_code == 400


# ---- group G: click-analytics inputs --------------------------------------------------------

def test_group_g_analytics_inputs(srv):
    link = srv.create("https://example.com/g1", customSlug="g-one")
    headers = [
        {"Referer": "' OR 1=1--", "User-Agent": "<script>alert(1)</script>"},
        {"Referer": "https://r.example/" + "a" * 15000},
        {"User-Agent": "Mozilla/5.0 \udcff"},
    ]
    for h in headers:
        enc = {k: v.encode("utf-8", "surrogateescape") for k, v in h.items()}
        assert srv.get("/g-one", headers=enc).status_code == 302
    raw = srv.raw(b"GET /g-one HTTP/1.1\r\nHost: x\r\nUser-Agent: \xff\xfe bad\r\n"
                  b"Connection: close\r\n\r\n")
    assert status_of(raw) == 302
    wait_flush()
    r = srv.api("GET", "/short-urls/g-one/visits", params={"itemsPerPage": 50})
    assert r.status_code == 200
    data = r.json()["visits"]["data"]
    assert len(data) == 4
    assert all(len(v["referer"] or "") <= 512 for v in data)
    assert any(v["userAgent"] == "<script>alert(1)</script>" for v in data)
    assert link["shortCode"] == "g-one"
