"""Public routes of `shorty serve`: redirects, preview, track, QR, page,
health, readiness, metrics, robots.txt (SPEC §2 "Public routes")."""
import re
import time

import requests

from httpfix import Server, assert_problem, srv, status_of, wait_flush  # noqa: F401


def test_health(srv):
    r = srv.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_ready(srv):
    r = srv.get("/ready")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"


def test_redirect_location_exactly_as_stored(srv):
    link = srv.create("https://example.com/path?a=1&b=%C3%BC#frag")
    r = srv.get("/" + link["shortCode"])
    assert r.status_code == 302
    assert r.headers["Location"] == link["longUrl"]
    assert r.headers["Content-Length"] == "0"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Type" in r.headers


def test_redirect_status_per_link(srv):
    for status in (301, 302, 307, 308):
        link = srv.create(f"https://example.com/status/{status}", redirectStatus=status)
        r = srv.get("/" + link["shortCode"])
        assert r.status_code == status


def test_encoded_crlf_stays_encoded_raw(srv):
    link = srv.create("https://example.com/a%0d%0aSet-Cookie:%20s=1")
    raw = srv.raw(f"GET /{link['shortCode']}?x=%0d%0aInjected:%201 HTTP/1.1\r\n"
                  "Host: t\r\nConnection: close\r\n\r\n".encode())
    head = raw.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    assert status_of(raw) == 302
    loc = [l for l in lines if l.lower().startswith(b"location:")]
    assert len(loc) == 1
    assert b"Set-Cookie" not in b"\r\n".join(l for l in lines if not l.lower().startswith(b"location:"))
    assert not any(l.lower().startswith(b"injected") for l in lines)
    assert b"\r" not in loc[0] and b"\n" not in loc[0]
    stored = link["longUrl"].encode()
    assert loc[0] == b"Location: " + stored + b"?x=%0d%0aInjected:%201"


def test_query_forwarding(srv):
    link = srv.create("https://example.com/p?x=1#top")
    r = srv.get("/" + link["shortCode"] + "?utm=a%20b&c")
    assert r.headers["Location"] == link["longUrl"].replace("#top", "") + "&utm=a%20b&c#top"
    plain = srv.create("https://example.com/q")
    assert srv.get("/" + plain["shortCode"] + "?a=b").headers["Location"] == plain["longUrl"] + "?a=b"
    # forwardQuery false: the query is dropped
    nofwd = srv.create("https://example.com/nofwd", forwardQuery=False)
    assert srv.get("/" + nofwd["shortCode"] + "?a=b").headers["Location"] == nofwd["longUrl"]


def test_query_bytes_reencoded(srv):
    link = srv.create("https://example.com/enc")
    raw = srv.raw(b"GET /" + link["shortCode"].encode() + b"?q=%zz&u=\xc3\xbc&t=<x> HTTP/1.1\r\n"
                  b"Host: t\r\nConnection: close\r\n\r\n")
    if status_of(raw) == 302:
        loc = [l for l in raw.split(b"\r\n") if l.startswith(b"Location:")][0]
        assert b"%25zz" in loc
        assert all(0x21 <= c < 0x7f for c in loc[len(b"Location: "):])
    else:
        assert status_of(raw) == 400


def test_unknown_code_404_html_and_json(srv):
    r = srv.get("/nosuchcode1")
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/html")
    r = srv.get("/nosuchcode1", headers={"Accept": "application/json"})
    assert_problem(r, 404, "not-found")
    assert srv.get("/a.b").status_code == 404
    assert srv.get("/x/y/z").status_code == 404
    assert srv.get("/abc%00").status_code == 404
    assert srv.get("/%2e%2e/api").status_code == 404


def test_head_is_not_a_visit(srv):
    link = srv.create("https://example.com/head-test")
    code = link["shortCode"]
    for _ in range(3):
        r = requests.head(srv.url("/" + code), allow_redirects=False)
        assert r.status_code == 302
        assert r.headers["Location"] == link["longUrl"]
    for _ in range(2):
        assert srv.get("/" + code).status_code == 302
    wait_flush()
    got = srv.api("GET", "/short-urls/" + code).json()
    assert got["visitsSummary"]["total"] == 2


def test_n_redirects_counted(srv):
    link = srv.create("https://example.com/count-me")
    n = 25
    s = requests.Session()
    for _ in range(n):
        assert s.get(srv.url("/" + link["shortCode"]), allow_redirects=False).status_code == 302
    wait_flush()
    got = srv.api("GET", "/short-urls/" + link["shortCode"]).json()
    assert got["visitsSummary"] == {"total": n, "nonBots": n, "bots": 0}


def test_bots_counted_apart(srv):
    link = srv.create("https://example.com/bot")
    srv.get("/" + link["shortCode"], headers={"User-Agent": "Slackbot-LinkExpanding 1.0"})
    srv.get("/" + link["shortCode"], headers={"User-Agent": "facebookexternalhit/1.1"})
    srv.get("/" + link["shortCode"], headers={"User-Agent": "curl/8.0"})
    wait_flush()
    got = srv.api("GET", "/short-urls/" + link["shortCode"]).json()
    assert got["visitsSummary"]["bots"] == 2
    assert got["visitsSummary"]["nonBots"] == 1


def test_gone_disabled_expired_max_visits(srv):
    dis = srv.create("https://example.com/disabled")
    r = srv.api("PATCH", "/short-urls/" + dis["shortCode"], json={"disabled": True})
    assert r.status_code == 200, r.text
    r = srv.get("/" + dis["shortCode"])
    assert r.status_code == 410 and "disabled" in r.text
    exp = srv.api("POST", "/short-urls", json={"longUrl": "https://example.com/expired",
                                                 "validUntil": "2000-01-01T00:00:00+00:00"})
    if exp.status_code == 200:
        r = srv.get("/" + exp.json()["shortCode"])
        assert r.status_code == 410 and "expired" in r.text
    ns = srv.create("https://example.com/notyet", validSince="2999-01-01T00:00:00+00:00")
    r = srv.get("/" + ns["shortCode"], headers={"Accept": "application/json"})
    assert_problem(r, 410)
    mv = srv.create("https://example.com/max", maxVisits=1)
    assert srv.get("/" + mv["shortCode"]).status_code == 302
    deadline = time.time() + 6
    while time.time() < deadline:
        r = srv.get("/" + mv["shortCode"])
        if r.status_code == 410:
            break
        time.sleep(0.3)
    assert r.status_code == 410 and "limit" in r.text


def test_preview_escapes(srv):
    link = srv.create("https://example.com/x?a=<script>", title="<img src=x onerror=alert(1)>")
    r = srv.get("/" + link["shortCode"] + "+")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<img src=x" not in r.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in r.text
    assert "<script>" not in r.text
    assert srv.get("/nosuch+").status_code == 404


def test_track_pixel_counts(srv):
    link = srv.create("https://example.com/track")
    r = srv.get("/" + link["shortCode"] + "/track")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/gif"
    assert r.content.startswith(b"GIF89a")
    wait_flush()
    got = srv.api("GET", "/short-urls/" + link["shortCode"]).json()
    assert got["visitsSummary"]["total"] == 1
    assert srv.get("/nosuchtrack/track").status_code == 404


def test_qr_code(srv):
    link = srv.create("https://example.com/qr")
    r = srv.get("/" + link["shortCode"] + "/qr-code")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/svg+xml"
    assert r.text.lstrip().startswith("<?xml") and "<svg" in r.text
    r = srv.get("/" + link["shortCode"] + "/qr-code?format=png&size=120")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    for bad in ("size=49", "size=1001", "size=abc", "format=gif", "margin=-1",
                "errorCorrection=Z"):
        assert_problem(srv.get("/" + link["shortCode"] + "/qr-code?" + bad), 400, "invalid-data")
    assert srv.get("/nosuchqr/qr-code").status_code == 404


def test_index_page_and_form_create(srv):
    r = srv.get("/")
    assert r.status_code == 200
    assert "<form" in r.text and "/api/shorten" in r.text
    r = requests.post(srv.url("/api/shorten"), data={"url": "https://example.com/from-form"},
                      allow_redirects=False)
    assert r.status_code == 200, r.text
    m = re.search(r'id=short href="([^"]+)"', r.text)
    assert m
    code = m.group(1).rsplit("/", 1)[1]
    assert srv.get("/" + code).headers["Location"] == "https://example.com/from-form"
    # JSON flavour
    r = requests.post(srv.url("/api/shorten"), json={"url": "https://example.com/from-json"})
    assert r.status_code == 200
    assert r.json()["longUrl"] == "https://example.com/from-json"
    # bad input: page says why, nothing stored
    r = requests.post(srv.url("/api/shorten"), data={"url": "javascript:alert(1)"})
    assert r.status_code == 400
    assert "<script" not in r.text
    r = requests.post(srv.url("/api/shorten"), json={"url": "javascript:alert(1)"})
    assert_problem(r, 400, "invalid-data")


def test_robots(srv):
    c = srv.create("https://example.com/crawl-me", crawlable=True)
    n = srv.create("https://example.com/dont")
    r = srv.get("/robots.txt")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert f"Allow: /{c['shortCode']}\n" in r.text
    assert f"/{n['shortCode']}\n" not in r.text
    assert r.text.rstrip().endswith("Disallow: /")


def test_metrics(srv):
    srv.get("/health")
    r = srv.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    for name in ("shorty_http_requests_total", "shorty_http_request_duration_seconds_bucket",
                 "shorty_redirects_total", "shorty_links_created_total",
                 "shorty_cache_hits_total", "shorty_cache_misses_total",
                 "shorty_cache_entries", "shorty_store_errors_total",
                 "shorty_visits_pending", "process_resident_memory_bytes"):
        assert re.search(rf"^{name}(\{{[^}}]*\}})? \S+$", r.text, re.M), name
    assert 'shorty_http_requests_total{route="health",status="200"}' in r.text
    # label sets are unique
    series = [l.rsplit(" ", 1)[0] for l in r.text.splitlines() if l and not l.startswith("#")]
    assert len(series) == len(set(series))


def test_method_not_allowed(srv):
    r = requests.post(srv.url("/health"))
    assert r.status_code == 405
    assert "GET" in r.headers["Allow"]
    r = requests.delete(srv.url("/somecode"))
    assert r.status_code == 405
    r = requests.request("BREW", srv.url("/health"))
    assert r.status_code == 405  # an unknown method on a known route
    assert srv.get("/health").status_code == 200


def test_anonymous_create_off():
    s = Server(env={"SHORTY_ANONYMOUS_CREATE": "false"})
    try:
        s.start()
        r = requests.post(s.url("/api/shorten"), json={"url": "https://example.com/"})
        assert r.status_code == 403
        r = requests.post(s.url("/api/shorten"), data={"url": "https://example.com/"})
        assert r.status_code == 403
        # the page has no form then, and sends people to the admin
        for r in (s.get("/"), requests.post(s.url("/api/shorten"), data={"url": "https://example.com/"})):
            assert "<form" not in r.text and 'name=url' not in r.text
            assert "Anonymous link creation is turned off on this server." in r.text
            assert '<a href="/admin">Open the admin</a>' in r.text
    finally:
        s.close()
