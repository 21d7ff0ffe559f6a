"""Visits as Shlink keeps them (issue 9 item 4), through real requests:
visitLocation from the GeoIP database in every visit list (null without
one), the three orphan visit types, an expired or over-limit link's visit
as an orphan invalid_short_url visit, GET /domains/{domain}/visits, HEAD
never counted (pages and totals agree), every item when itemsPerPage is
absent, page=0 as page 1, and maxVisits exact under parallel redirects.

The server believes X-Forwarded-For from 127.0.0.1 and reads the small
database of tests/fixtures/make-geoip-db.pl (81.2.69.0/24: London, GB;
2a01:4f8::/32: Berlin, DE; 1.2.3.0/24: the US, country only)."""
import threading

import pytest
import requests

from httpfix import Server, assert_problem, wait_flush

LONDON = {"countryCode": "GB", "countryName": "United Kingdom", "regionName": "England",
          "cityName": "London", "latitude": 51.5142, "longitude": -0.0931,
          "timezone": "Europe/London", "isEmpty": False}


@pytest.fixture(scope="module")
def srv(geodb):
    s = Server(env={"SHORTY_TRUSTED_PROXIES": "127.0.0.1", "SHORTY_GEOIP_DB": str(geodb)},
               threads=4)
    s.start()
    yield s
    s.close()


def visit(srv, path, ip="203.0.113.9", method="GET"):
    return requests.request(method, srv.url(path), allow_redirects=False, timeout=10,
                            headers={"X-Forwarded-For": ip, "User-Agent": "visits-test"})


def visits(srv, path, **params):
    r = srv.api("GET", path, params=params)
    assert r.status_code == 200, r.text
    return r.json()["visits"]


def test_locations_in_every_visit_list(srv):
    srv.create("https://example.com/located", customSlug="v-loc", tags=["v-loc-tag"])
    assert visit(srv, "/v-loc", ip="81.2.69.160").status_code == 302
    assert visit(srv, "/v-loc", ip="2a01:4f8:1:2::3").status_code == 302
    assert visit(srv, "/v-loc", ip="1.2.3.4").status_code == 302
    assert visit(srv, "/v-loc", ip="203.0.113.9").status_code == 302  # not in the database
    assert visit(srv, "/v-loc-orphan-code", ip="81.2.69.7").status_code == 404
    wait_flush()
    # (each worker thread buffers its own visits: the list's order among
    # visits of the same second is the flush's, so they are keyed here)
    data = visits(srv, "/short-urls/v-loc/visits")["data"]
    by_country = {(v["visitLocation"] or {}).get("countryCode"): v["visitLocation"] for v in data}
    assert set(by_country) == {None, "GB", "DE", "US"}
    assert by_country[None] is None
    assert by_country["GB"] == LONDON
    assert by_country["DE"]["cityName"] == "Berlin"
    assert by_country["DE"]["regionName"] == "Land Berlin"
    us = by_country["US"]
    assert (us["cityName"], us["timezone"], us["isEmpty"]) == ("", "", False)
    # the address kept is anonymized; the location was found from the full one
    for path in ("/tags/v-loc-tag/visits", "/visits/non-orphan", "/domains/DEFAULT/visits"):
        located = [v["visitLocation"] for v in visits(srv, path)["data"]
                   if v["visitedUrl"].endswith("/v-loc")]
        assert len(located) == 4 and LONDON in located, path
    orphan = [v for v in visits(srv, "/visits/orphan")["data"]
              if v["visitedUrl"].endswith("/v-loc-orphan-code")]
    assert orphan[0]["visitLocation"] == LONDON


def test_no_database_no_location_no_error(tmp_path):
    s = Server(directory=tmp_path, env={"SHORTY_TRUSTED_PROXIES": "127.0.0.1"})
    s.start()
    try:
        s.create("https://example.com/nowhere", customSlug="v-none")
        assert visit(s, "/v-none", ip="81.2.69.160").status_code == 302
        wait_flush()
        data = visits(s, "/short-urls/v-none/visits")["data"]
        assert [v["visitLocation"] for v in data] == [None]
    finally:
        s.close()


def test_the_three_orphan_types(srv):
    srv.api("DELETE", "/visits/orphan")
    assert visit(srv, "/").status_code == 200
    assert visit(srv, "/x/y/z").status_code == 404
    assert visit(srv, "/v-no-such-code").status_code == 404
    # not visits: HEAD, and the API's own 404s
    assert visit(srv, "/", method="HEAD").status_code == 200
    assert srv.api("GET", "/no-such-route").status_code == 404
    wait_flush()
    data = visits(srv, "/visits/orphan")["data"]
    assert sorted((v["type"], v["visitedUrl"]) for v in data) == [
        ("base_url", "http://localhost:8000/"),
        ("invalid_short_url", "http://localhost:8000/v-no-such-code"),
        ("regular_404", "http://localhost:8000/x/y/z")]
    for t, n in (("base_url", 1), ("regular_404", 1), ("invalid_short_url", 1)):
        page = visits(srv, "/visits/orphan", type=t)
        assert page["pagination"]["totalItems"] == n and page["data"][0]["type"] == t
    summary = srv.api("GET", "/visits").json()["visits"]["orphanVisits"]
    assert summary["total"] == 3


def test_expired_and_over_limit_visits_are_orphans(srv):
    srv.api("DELETE", "/visits/orphan")
    srv.create("https://example.com/old", customSlug="v-old", validUntil="2001-01-01T00:00:00+00:00")
    srv.create("https://example.com/once", customSlug="v-once", maxVisits=1)
    assert visit(srv, "/v-old").status_code == 410
    assert visit(srv, "/v-once").status_code == 302
    assert visit(srv, "/v-once").status_code == 410
    wait_flush()
    data = visits(srv, "/visits/orphan")["data"]
    assert sorted((v["type"], v["visitedUrl"].rsplit("/", 1)[1]) for v in data) == [
        ("invalid_short_url", "v-old"), ("invalid_short_url", "v-once")]
    assert visits(srv, "/short-urls/v-once/visits")["pagination"]["totalItems"] == 1
    assert visits(srv, "/short-urls/v-old/visits")["pagination"]["totalItems"] == 0


def test_head_is_never_counted(srv):
    srv.create("https://example.com/head", customSlug="v-head", tags=["v-head-tag"])
    for method in ("GET", "HEAD", "GET", "HEAD"):
        assert visit(srv, "/v-head", method=method).status_code == 302
    wait_flush()
    for path in ("/short-urls/v-head/visits", "/tags/v-head-tag/visits"):
        page = visits(srv, path, itemsPerPage=1)
        assert page["pagination"] == {"currentPage": 1, "pagesCount": 2, "itemsPerPage": 1,
                                      "itemsInCurrentPage": 1, "totalItems": 2}, path
        page2 = visits(srv, path, itemsPerPage=1, page=2)
        assert page2["pagination"]["itemsInCurrentPage"] == 1
        assert visits(srv, path, itemsPerPage=1, page=3)["data"] == []
    assert srv.api("GET", "/short-urls/v-head").json()["visitsSummary"]["total"] == 2


def test_every_item_without_itemsPerPage_and_page_zero(srv):
    srv.create("https://example.com/many", customSlug="v-many")
    for _ in range(13):
        assert visit(srv, "/v-many").status_code == 302
    wait_flush()
    page = visits(srv, "/short-urls/v-many/visits")
    assert len(page["data"]) == 13
    assert page["pagination"] == {"currentPage": 1, "pagesCount": 1, "itemsPerPage": 13,
                                  "itemsInCurrentPage": 13, "totalItems": 13}
    assert len(visits(srv, "/short-urls/v-many/visits", itemsPerPage=-1)["data"]) == 13
    zero = visits(srv, "/short-urls/v-many/visits", itemsPerPage=5, page=0)
    one = visits(srv, "/short-urls/v-many/visits", itemsPerPage=5, page=1)
    assert zero == one and zero["pagination"]["currentPage"] == 1
    assert_problem(srv.api("GET", "/short-urls/v-many/visits", params={"page": -1}), 400,
                   "invalid-data")


def test_domain_visits(srv):
    srv.create("https://example.com/dom", customSlug="v-dom")
    assert visit(srv, "/v-dom").status_code == 302
    wait_flush()
    non_orphan = visits(srv, "/visits/non-orphan")
    for domain in ("DEFAULT", "localhost:8000"):
        page = visits(srv, f"/domains/{domain}/visits")
        assert page["pagination"]["totalItems"] == non_orphan["pagination"]["totalItems"]
        assert page["data"][0]["visitedUrl"] == "http://localhost:8000/v-dom"
    body = assert_problem(srv.api("GET", "/domains/elsewhere.example/visits"), 404,
                          "domain-not-found")
    assert body["authority"] == "elsewhere.example"
    assert body["detail"] == 'Domain with authority "elsewhere.example" could not be found'


def test_max_visits_exact_under_parallel_redirects(srv):
    srv.create("https://example.com/limited", customSlug="v-limit", maxVisits=2)
    statuses = []
    lock = threading.Lock()
    start = threading.Barrier(24)

    def one():
        start.wait()
        s = visit(srv, "/v-limit").status_code
        with lock:
            statuses.append(s)

    threads = [threading.Thread(target=one) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [302, 302] + [410] * 22
    wait_flush()
    assert srv.api("GET", "/short-urls/v-limit").json()["visitsSummary"]["total"] == 2
    # deleting its visits lets it count again, from zero
    assert srv.api("DELETE", "/short-urls/v-limit/visits").json()["deletedVisits"] == 2
    assert [visit(srv, "/v-limit").status_code for _ in range(3)] == [302, 302, 410]


def test_every_visit_streamed_across_chunks(srv):
    """More visits than one chunk of the stream (500): every one is sent,
    once, newest first, with the pagination of what was sent; the answer is
    chunked (never built whole in memory)."""
    srv.create("https://example.com/lots", customSlug="v-lots")
    with requests.Session() as http:
        for i in range(1101):
            r = http.get(srv.url("/v-lots"), allow_redirects=False, timeout=10,
                         headers={"User-Agent": f"ua-{i}", "X-Forwarded-For": "203.0.113.9"})
            assert r.status_code == 302
    wait_flush()
    r = srv.api("GET", "/short-urls/v-lots/visits")
    assert r.status_code == 200
    assert r.headers.get("Transfer-Encoding") == "chunked"
    page = r.json()["visits"]
    assert sorted(v["userAgent"] for v in page["data"]) == sorted(f"ua-{i}" for i in range(1101))
    assert page["pagination"] == {"currentPage": 1, "pagesCount": 1, "itemsPerPage": 1101,
                                  "itemsInCurrentPage": 1101, "totalItems": 1101}
    assert all(v["redirectUrl"] == "https://example.com/lots" for v in page["data"])
    # the same list a page at a time agrees
    paged = visits(srv, "/short-urls/v-lots/visits", itemsPerPage=1000, page=2)
    assert paged["pagination"]["totalItems"] == 1101 and len(paged["data"]) == 101
    # no visits at all: an empty list, streamed too
    srv.create("https://example.com/unvisited", customSlug="v-unvisited")
    assert visits(srv, "/short-urls/v-unvisited/visits") == {
        "data": [], "pagination": {"currentPage": 1, "pagesCount": 0, "itemsPerPage": 1,
                                   "itemsInCurrentPage": 0, "totalItems": 0}}
