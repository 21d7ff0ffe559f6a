"""The Shlink v3 compatible REST API of `shorty serve` (SPEC §2)."""
import requests

from httpfix import Server, assert_problem, srv, wait_flush  # noqa: F401

SHORT_URL_KEYS = {"shortCode", "shortUrl", "longUrl", "dateCreated", "visitsSummary", "tags",
                  "meta", "domain", "title", "crawlable", "forwardQuery", "hasRedirectRules"}
PAGINATION_KEYS = {"currentPage", "pagesCount", "itemsPerPage", "itemsInCurrentPage", "totalItems"}


def test_health_no_auth(srv):
    for path in ("/rest/health", "/rest/v3/health", "/rest/v2/health"):
        r = requests.get(srv.url(path))
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "pass"
        assert body["version"].count(".") == 2
        assert "links" in body
        assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_create_get_shapes(srv):
    link = srv.create("https://Example.COM:443/a/../b", customSlug="shapes-1", tags=["x", "y"],
                      title="T", maxVisits=5, crawlable=True)
    assert SHORT_URL_KEYS <= set(link)
    assert link["shortCode"] == "shapes-1"
    assert link["longUrl"] == "https://example.com/b"
    assert link["shortUrl"].endswith("/shapes-1")
    assert link["tags"] == ["x", "y"]
    assert link["meta"]["maxVisits"] == 5
    assert link["domain"] is None
    assert link["visitsSummary"] == {"total": 0, "nonBots": 0, "bots": 0}
    assert "+00:00" in link["dateCreated"] or "Z" in link["dateCreated"]
    r = srv.api("GET", "/short-urls/shapes-1")
    assert r.status_code == 200
    assert r.json() == link
    # v1 and v2 answer the same
    r2 = requests.get(srv.url("/rest/v2/short-urls/shapes-1"), headers={"X-Api-Key": srv.admin_key})
    assert r2.json() == link


def test_create_dedupes_and_conflicts(srv):
    a = srv.create("https://example.com/dedupe")
    b = srv.create("https://example.com/dedupe", findIfExists=True)
    assert a["shortCode"] == b["shortCode"]
    # as Shlink: without findIfExists (or with false) every create is a new link
    c = srv.create("https://example.com/dedupe", findIfExists=False)
    assert c["shortCode"] != a["shortCode"]
    assert srv.create("https://example.com/dedupe")["shortCode"] not in (a["shortCode"],
                                                                         c["shortCode"])
    srv.create("https://example.com/slug", customSlug="taken-slug")
    r = srv.api("POST", "/short-urls", json={"longUrl": "https://example.com/other",
                                              "customSlug": "taken-slug"})
    body = assert_problem(r, 400, "non-unique-slug")
    assert body["customSlug"] == "taken-slug"


def test_create_invalid(srv):
    before = srv.api("GET", "/short-urls").json()["shortUrls"]["pagination"]["totalItems"]
    for body, field in (({"longUrl": "javascript:alert(1)"}, "longUrl"),
                        ({}, "longUrl"),
                        ({"longUrl": 42}, "longUrl"),
                        ({"longUrl": "https://example.com/", "customSlug": "a/b"}, "customSlug"),
                        ({"longUrl": "https://example.com/", "customSlug": "health"}, None),
                        ({"longUrl": "https://example.com/", "tags": ["BAD TAG"]}, "tags"),
                        ({"longUrl": "https://example.com/", "maxVisits": "x"}, "maxVisits"),
                        ({"longUrl": "https://example.com/", "validUntil": "nope"}, "validUntil")):
        r = srv.api("POST", "/short-urls", json=body)
        b = assert_problem(r, 400, "invalid-data")
        assert isinstance(b["invalidElements"], list) and b["invalidElements"]
        if field:
            assert field in b["invalidElements"], (body, b)
    after = srv.api("GET", "/short-urls").json()["shortUrls"]["pagination"]["totalItems"]
    assert before == after


def test_list_pagination_search_tags_order(srv):
    s = Server()
    try:
        s.start()
        for i in range(7):
            s.create(f"https://example.com/list/{i}", tags=["even" if i % 2 == 0 else "odd"],
                     title=f"item {i}", findIfExists=False)
        r = s.api("GET", "/short-urls", params={"page": 2, "itemsPerPage": 3})
        body = r.json()["shortUrls"]
        assert set(body["pagination"]) == PAGINATION_KEYS
        assert body["pagination"] == {"currentPage": 2, "pagesCount": 3, "itemsPerPage": 3,
                                      "itemsInCurrentPage": 3, "totalItems": 7}
        r = s.api("GET", "/short-urls", params={"tags[]": "even"})
        assert r.json()["shortUrls"]["pagination"]["totalItems"] == 4
        r = s.api("GET", "/short-urls", params=[("tags[]", "even"), ("tags[]", "odd"),
                                                ("tagsMode", "all")])
        assert r.json()["shortUrls"]["pagination"]["totalItems"] == 0
        r = s.api("GET", "/short-urls", params={"searchTerm": "list/3"})
        data = r.json()["shortUrls"]["data"]
        assert [d["longUrl"] for d in data] == ["https://example.com/list/3"]
        r = s.api("GET", "/short-urls", params={"orderBy": "longUrl-ASC"})
        urls = [d["longUrl"] for d in r.json()["shortUrls"]["data"]]
        assert urls == sorted(urls)
        r = s.api("GET", "/short-urls", params={"orderBy": "dateCreated-DESC"})
        assert r.status_code == 200
        # page 0 is the first page, as Shlink reads it (issue 9)
        assert s.api("GET", "/short-urls", params={"page": "0"}).json() == \
            s.api("GET", "/short-urls", params={"page": "1"}).json()
        for bad in ({"orderBy": "password-ASC"}, {"page": "-1"}, {"page": "x"},
                    {"itemsPerPage": "1e3"}, {"startDate": "2024-13-45"},
                    {"tagsMode": "some"}, {"excludeMaxVisitsReached": "maybe"}):
            assert_problem(s.api("GET", "/short-urls", params=bad), 400, "invalid-data")
    finally:
        s.close()


def test_edit_and_delete(srv):
    link = srv.create("https://example.com/edit-me", customSlug="edit-me")
    r = srv.api("PATCH", "/short-urls/edit-me",
                json={"longUrl": "https://example.com/edited", "title": "New", "tags": ["t1"],
                      "maxVisits": None, "forwardQuery": False})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["longUrl"] == "https://example.com/edited"
    assert body["title"] == "New" and body["tags"] == ["t1"] and body["forwardQuery"] is False
    assert srv.get("/edit-me").headers["Location"] == "https://example.com/edited"
    assert_problem(srv.api("PATCH", "/short-urls/edit-me", json={"longUrl": "ftp://x/"}), 400,
                   "invalid-data")
    r = srv.api("DELETE", "/short-urls/edit-me")
    assert r.status_code == 204
    assert srv.get("/edit-me").status_code == 404
    body = assert_problem(srv.api("GET", "/short-urls/edit-me"), 404, "short-url-not-found")
    assert body["shortCode"] == "edit-me"
    assert_problem(srv.api("DELETE", "/short-urls/edit-me"), 404, "short-url-not-found")
    assert_problem(srv.api("PATCH", "/short-urls/nope-404", json={"title": "x"}), 404,
                   "short-url-not-found")
    del link


def test_visits_endpoints():
    srv = Server()
    try:
        srv.start()
        _visits_endpoints(srv)
    finally:
        srv.close()


def _visits_endpoints(srv):
    link = srv.create("https://example.com/visits", customSlug="visits-1", tags=["vt"])
    for _ in range(3):
        srv.get("/visits-1", headers={"Referer": "https://ref.example/", "User-Agent": "UA/1"})
    srv.get("/no-such-code-for-orphans")
    wait_flush()
    r = srv.api("GET", "/short-urls/visits-1/visits", params={"itemsPerPage": 2})
    assert r.status_code == 200
    v = r.json()["visits"]
    assert v["pagination"]["totalItems"] == 3 and len(v["data"]) == 2
    one = v["data"][0]
    assert set(one) >= {"referer", "date", "userAgent", "potentialBot", "visitedUrl",
                        "redirectUrl", "visitLocation"}
    assert one["referer"] == "https://ref.example/" and one["userAgent"] == "UA/1"
    assert one["redirectUrl"] == link["longUrl"] and one["visitLocation"] is None
    assert one["potentialBot"] is False
    s = srv.api("GET", "/visits").json()["visits"]
    assert set(s) >= {"nonOrphanVisits", "orphanVisits"}
    assert set(s["nonOrphanVisits"]) == {"total", "nonBots", "bots"}
    assert s["orphanVisits"]["total"] >= 1
    orph = srv.api("GET", "/visits/orphan").json()["visits"]
    assert any(d.get("type") == "invalid_short_url" for d in orph["data"])
    non = srv.api("GET", "/visits/non-orphan").json()["visits"]
    assert non["pagination"]["totalItems"] >= 3
    tv = srv.api("GET", "/tags/vt/visits").json()["visits"]
    assert tv["pagination"]["totalItems"] == 3
    assert_problem(srv.api("GET", "/tags/no-such-tag/visits"), 404, "tag-not-found")
    assert_problem(srv.api("GET", "/short-urls/nope-visits/visits"), 404, "short-url-not-found")
    r = srv.api("DELETE", "/short-urls/visits-1/visits")
    assert r.status_code == 200 and r.json()["deletedVisits"] == 3


def test_tags(srv):
    s = Server()
    try:
        s.start()
        s.create("https://example.com/t1", tags=["alpha", "beta"])
        s.create("https://example.com/t2", tags=["beta"])
        r = s.api("GET", "/tags")
        assert r.json()["tags"]["data"] == ["alpha", "beta"]
        r = s.api("GET", "/tags/stats")
        stats = {d["tag"]: d for d in r.json()["tags"]["data"]}
        assert stats["beta"]["shortUrlsCount"] == 2
        assert set(stats["beta"]["visitsSummary"]) == {"total", "nonBots", "bots"}
        r = s.api("PUT", "/tags", json={"oldName": "alpha", "newName": "gamma"})
        assert r.status_code == 204
        assert s.api("GET", "/tags").json()["tags"]["data"] == ["beta", "gamma"]
        assert_problem(s.api("PUT", "/tags", json={"oldName": "nope", "newName": "x"}), 404,
                       "tag-not-found")
        b = assert_problem(s.api("PUT", "/tags", json={"oldName": "beta", "newName": "gamma"}),
                           409, "tag-conflict")
        assert b["oldName"] == "beta" and b["newName"] == "gamma"
        assert_problem(s.api("PUT", "/tags", json={"oldName": "beta"}), 400, "invalid-data")
        r = s.api("DELETE", "/tags", params={"tags[]": "gamma"})
        assert r.status_code == 204
        assert s.api("GET", "/tags").json()["tags"]["data"] == ["beta"]
        author = s.key("author")
        assert_problem(s.api("PUT", "/tags", key=author, json={"oldName": "beta", "newName": "z"}),
                       403, "forbidden-tag-operation")
        assert_problem(s.api("DELETE", "/tags", key=author, params={"tags[]": "beta"}), 403,
                       "forbidden-tag-operation")
    finally:
        s.close()


def test_domains_mercure_legacy(srv):
    r = srv.api("GET", "/domains")
    d = r.json()["domains"]
    assert d["data"][0]["isDefault"] is True and d["data"][0]["domain"]
    assert "defaultRedirects" in d
    assert_problem(srv.api("GET", "/mercure-info"), 501, "mercure-not-configured")
    r = requests.get(srv.url("/rest/v3/short-urls/shorten"),
                     params={"apiKey": srv.admin_key, "longUrl": "https://example.com/legacy",
                             "format": "txt"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    code = r.text.strip().rsplit("/", 1)[1]
    assert srv.get("/" + code).headers["Location"] == "https://example.com/legacy"
    r = requests.get(srv.url("/rest/v2/short-urls/shorten"),
                     params={"apiKey": srv.admin_key, "longUrl": "https://example.com/legacy2"})
    assert r.status_code == 200 and r.json()["longUrl"] == "https://example.com/legacy2"
    assert_problem(requests.get(srv.url("/rest/v3/short-urls/shorten"),
                                params={"longUrl": "https://example.com/x"}), 401,
                   "missing-authentication")


def test_auth_errors(srv):
    assert_problem(srv.api("GET", "/short-urls", key=None), 401, "missing-authentication")
    for bad in ("nope", "x" * 5000, "shorty_" + "A" * 43):
        assert_problem(srv.api("GET", "/short-urls", key=bad), 401, "invalid-api-key")
    r = requests.get(srv.url("/rest/v3/short-urls"),
                     headers={"Authorization": "Bearer " + srv.admin_key})
    assert r.status_code == 200
    for hdr in ("Bearer", "Basic dXNlcjpwYXNz", "Bearer  wrong"):
        r = requests.get(srv.url("/rest/v3/short-urls"), headers={"Authorization": hdr})
        assert r.status_code == 401
    # the key in the query is not accepted outside the legacy route
    r = requests.get(srv.url("/rest/v3/short-urls"), params={"apiKey": srv.admin_key})
    assert r.status_code == 401
    # revoked key
    out = srv.cli("key", "list")
    k = srv.key("admin", "to-revoke")
    assert srv.api("GET", "/short-urls", key=k).status_code == 200
    kid = [l.split()[0] for l in srv.cli("key", "list").splitlines() if "to-revoke" in l][0]
    srv.cli("key", "revoke", kid)
    assert_problem(srv.api("GET", "/short-urls", key=k), 401, "invalid-api-key")
    del out


def test_roles(srv):
    author1, author2, ro = srv.key("author"), srv.key("author"), srv.key("read-only")
    mine = srv.create("https://example.com/author-1", key=author1, customSlug="author-one")
    assert mine["shortCode"] == "author-one"
    # author 2 cannot see, edit or delete author 1's link
    assert_problem(srv.api("GET", "/short-urls/author-one", key=author2), 404, "short-url-not-found")
    assert_problem(srv.api("PATCH", "/short-urls/author-one", key=author2, json={"title": "x"}),
                   404, "short-url-not-found")
    assert_problem(srv.api("DELETE", "/short-urls/author-one", key=author2), 404,
                   "short-url-not-found")
    lst = srv.api("GET", "/short-urls", key=author2).json()["shortUrls"]
    assert all(d["shortCode"] != "author-one" for d in lst["data"])
    lst = srv.api("GET", "/short-urls", key=author1).json()["shortUrls"]
    assert [d["shortCode"] for d in lst["data"]] == ["author-one"]
    # read-only: reads yes, writes 403
    assert srv.api("GET", "/short-urls/author-one", key=ro).status_code == 200
    assert srv.api("POST", "/short-urls", key=ro,
                   json={"longUrl": "https://example.com/ro"}).status_code == 403
    assert srv.api("PATCH", "/short-urls/author-one", key=ro, json={"title": "x"}).status_code == 403
    assert srv.api("DELETE", "/short-urls/author-one", key=ro).status_code == 403
    assert srv.get("/author-one").status_code == 302


def test_cors(srv):
    r = requests.options(srv.url("/rest/v3/short-urls"),
                         headers={"Origin": "https://app.shlink.io",
                                  "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "x-api-key, content-type"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Api-Key" in r.headers["Access-Control-Allow-Headers"]
    assert "Content-Type" in r.headers["Access-Control-Allow-Headers"]
    for m in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        assert m in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Max-Age"] == "3600"
    r = srv.api("GET", "/short-urls")
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = srv.api("GET", "/short-urls", key=None)
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_origin_configurable():
    s = Server(env={"SHORTY_CORS_ORIGIN": "https://app.example"})
    try:
        s.start()
        r = requests.options(s.url("/rest/v3/tags"))
        assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    finally:
        s.close()


def test_unknown_rest_route(srv):
    assert_problem(srv.api("GET", "/nothing-here"), 404, "not-found")
    r = srv.api("POST", "/tags/stats", json={})
    assert r.status_code == 405 and "GET" in r.headers["Allow"]
