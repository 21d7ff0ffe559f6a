"""Issue 9 items 1 and 5: findIfExists as Shlink matches it, and every list
filter and order Shlink has (shared/research/shlink-parity.md gaps 1 and 8,
and the minor ones). Each test is a curl of that audit, answered as Shlink
5.1 answers it; each failed before its change."""
import time

import pytest

from httpfix import Server, assert_problem


@pytest.fixture
def fresh():
    """A private server: these tests count and order every link."""
    s = Server()
    try:
        s.start()
        yield s
    finally:
        s.close()


def codes(srv, query):
    r = srv.api("GET", "/short-urls" + query)
    assert r.status_code == 200, r.text
    return [u["shortCode"] for u in r.json()["shortUrls"]["data"]]


# ---- item 1: findIfExists ------------------------------------------------

def test_second_create_is_a_new_link(fresh):
    a = fresh.create("https://example.com/p", tags=["a"], title="A")
    b = fresh.create("https://example.com/p", tags=["b"], title="B")
    assert b["shortCode"] != a["shortCode"]
    assert (b["tags"], b["title"]) == (["b"], "B")
    # the legacy one-step shorten makes a new link too
    r = fresh.api("GET", "/short-urls/shorten", params={"longUrl": "https://example.com/p",
                                                         "format": "txt"})
    assert r.status_code == 200
    assert r.text.rsplit("/", 1)[1] not in (a["shortCode"], b["shortCode"])


def test_find_if_exists_matches_as_shlink(fresh):
    first = fresh.create("https://example.com/f", tags=["a"])
    fresh.create("https://example.com/f", tags=["b"])
    # the URL alone: the oldest link of that URL
    got = fresh.create("https://example.com/f", findIfExists=True)
    assert got["shortCode"] == first["shortCode"]
    # tags given: exactly that set, else a new link with them
    assert fresh.create("https://example.com/f", tags=["a"],
                        findIfExists=True)["shortCode"] == first["shortCode"]
    both = fresh.create("https://example.com/f", tags=["a", "b"], findIfExists=True)
    assert both["shortCode"] != first["shortCode"] and both["tags"] == ["a", "b"]
    # limits given: only a link with the same ones
    lim = fresh.create("https://example.com/f", maxVisits=3, findIfExists=True)
    assert lim["shortCode"] != first["shortCode"] and lim["meta"]["maxVisits"] == 3
    assert fresh.create("https://example.com/f", maxVisits=3,
                        findIfExists=True)["shortCode"] == lim["shortCode"]
    until = "2031-01-01T00:00:00+00:00"
    dated = fresh.create("https://example.com/f", validUntil=until, findIfExists=True)
    assert dated["shortCode"] not in (first["shortCode"], lim["shortCode"])
    assert fresh.create("https://example.com/f", validUntil=until,
                        findIfExists=True)["shortCode"] == dated["shortCode"]


def test_find_if_exists_with_the_same_slug_returns_it(fresh):
    fresh.create("https://example.com/q", customSlug="q1")
    got = fresh.create("https://example.com/q", customSlug="q1", findIfExists=True)
    assert got["shortCode"] == "q1"
    # the slug on another URL is still taken
    r = fresh.api("POST", "/short-urls", json={"longUrl": "https://example.com/other",
                                                "customSlug": "q1", "findIfExists": True})
    assert assert_problem(r, 400, "non-unique-slug")["customSlug"] == "q1"
    # without findIfExists the same slug is taken, as in Shlink
    r = fresh.api("POST", "/short-urls", json={"longUrl": "https://example.com/q",
                                                "customSlug": "q1"})
    assert_problem(r, 400, "non-unique-slug")


def test_find_if_exists_sees_what_the_key_sees(fresh):
    admin_link = fresh.create("https://example.com/own")
    author = fresh.key("author", "writer")
    mine = fresh.create("https://example.com/own", key=author, findIfExists=True)
    assert mine["shortCode"] != admin_link["shortCode"]  # not the author's to see
    assert fresh.create("https://example.com/own", key=author,
                        findIfExists=True)["shortCode"] == mine["shortCode"]
    # an admin key sees every link: the oldest is the admin's
    assert fresh.create("https://example.com/own",
                        findIfExists=True)["shortCode"] == admin_link["shortCode"]


# ---- item 5: filters and orders -------------------------------------------

def test_exclude_tags_any_and_all(fresh):
    a = fresh.create("https://example.com/x/a", tags=["a"])["shortCode"]
    ab = fresh.create("https://example.com/x/ab", tags=["a", "b"])["shortCode"]
    b = fresh.create("https://example.com/x/b", tags=["b"])["shortCode"]
    none = fresh.create("https://example.com/x/none")["shortCode"]
    assert set(codes(fresh, "?excludeTags[]=a")) == {b, none}
    assert set(codes(fresh, "?excludeTags[]=a&excludeTags[]=b")) == {none}
    assert set(codes(fresh, "?excludeTags[]=a&excludeTags[]=b&excludeTagsMode=all")) == \
        {a, b, none}
    assert set(codes(fresh, "?excludeTags[]=a&excludeTagsMode=any")) == {b, none}
    # with tags[]: both filters apply
    assert set(codes(fresh, "?tags[]=b&excludeTags[]=a")) == {b}
    assert ab not in codes(fresh, "?excludeTags=b")


def test_search_term_matches_tags(fresh):
    hit = fresh.create("https://example.com/s1", tags=["campaign-a"])["shortCode"]
    fresh.create("https://example.com/s2", tags=["other"])
    r = fresh.api("GET", "/short-urls?searchTerm=campaign-a")
    assert r.json()["shortUrls"]["pagination"]["totalItems"] == 1
    assert codes(fresh, "?searchTerm=CAMPAIGN") == [hit]


def test_order_by_short_code_is_by_the_code(fresh):
    made = [fresh.create(f"https://example.com/o/{i}")["shortCode"] for i in range(8)]
    made.append(fresh.create("https://example.com/o/slug", customSlug="Mslug")["shortCode"])
    # SQLite compares bytes: the order Python's sorted() gives for ASCII codes
    assert codes(fresh, "?orderBy=shortCode-ASC") == sorted(made)
    assert codes(fresh, "?orderBy=shortCode-DESC") == sorted(made, reverse=True)
    # pages cut the same order
    first = codes(fresh, "?orderBy=shortCode-ASC&itemsPerPage=4&page=1")
    second = codes(fresh, "?orderBy=shortCode-ASC&itemsPerPage=4&page=2")
    assert first + second == sorted(made)[:8]
    # and searchTerm finds a generated code
    assert made[3] in codes(fresh, "?searchTerm=" + made[3])


def test_api_key_name_filter(fresh):
    k1 = fresh.key("author", "team-one")
    k2 = fresh.key("author", "team-two")
    one = fresh.create("https://example.com/k/1", key=k1)["shortCode"]
    two = fresh.create("https://example.com/k/2", key=k2)["shortCode"]
    fresh.create("https://example.com/k/admin")
    assert codes(fresh, "?apiKeyName=team-one") == [one]
    assert codes(fresh, "?apiKeyName=team-two") == [two]
    assert codes(fresh, "?apiKeyName=nobody") == []
    # an author's key sees its own links whatever name it asks for
    r = fresh.api("GET", "/short-urls?apiKeyName=team-one", key=k2)
    assert [u["shortCode"] for u in r.json()["shortUrls"]["data"]] == [two]


def test_domain_filter(fresh):
    code = fresh.create("https://example.com/d")["shortCode"]
    assert codes(fresh, "?domain=DEFAULT") == [code]
    host = fresh.api("GET", "/domains").json()["domains"]["data"][0]["domain"]
    assert codes(fresh, "?domain=" + host) == [code]
    r = fresh.api("GET", "/short-urls?domain=other.test")
    assert r.status_code == 200
    assert r.json()["shortUrls"]["data"] == []
    assert r.json()["shortUrls"]["pagination"]["totalItems"] == 0


def test_invalid_elements_names_every_bad_field(fresh):
    r = fresh.api("GET", "/short-urls?orderBy=nope&tagsMode=some&excludeTagsMode=x"
                         "&page=zero&startDate=yesterday&excludePastValidUntil=maybe")
    body = assert_problem(r, 400, "invalid-data")
    assert sorted(body["invalidElements"]) == sorted(
        ["orderBy", "tagsMode", "excludeTagsMode", "page", "startDate",
         "excludePastValidUntil"])
    r = fresh.api("GET", "/tags/stats?orderBy=size-DESC&withStats=perhaps")
    body = assert_problem(r, 400, "invalid-data")
    assert sorted(body["invalidElements"]) == ["orderBy", "withStats"]


def _tag_fixture(srv):
    srv.create("https://example.com/t/1", tags=["alpha", "beta"])
    srv.create("https://example.com/t/2", tags=["beta", "gamma"])
    busy = srv.create("https://example.com/t/3", tags=["beta", "gamma"])["shortCode"]
    srv.create("https://example.com/t/4", tags=["delta"])
    for _ in range(3):
        assert srv.get("/" + busy).status_code == 302
    srv.get("/" + busy, headers={"User-Agent": "Googlebot/2.1"})


def test_tags_order_by(fresh):
    _tag_fixture(fresh)
    r = fresh.api("GET", "/tags?orderBy=tag-DESC")
    assert r.json()["tags"]["data"] == ["gamma", "delta", "beta", "alpha"]
    r = fresh.api("GET", "/tags?orderBy=tag-ASC&itemsPerPage=2&page=2")
    assert r.json()["tags"]["data"] == ["delta", "gamma"]
    # /tags orders by name only (Shlink's enum): a count is a 400
    body = assert_problem(fresh.api("GET", "/tags?orderBy=visits-DESC"), 400, "invalid-data")
    assert body["invalidElements"] == ["orderBy"]


def test_tags_stats_order_by_every_value(fresh):
    _tag_fixture(fresh)
    deadline = time.time() + 15  # visits reach the store about once a second
    while time.time() < deadline:
        stats = fresh.api("GET", "/tags/stats").json()["tags"]["data"]
        if [t["visitsSummary"]["total"] for t in stats] == [0, 4, 0, 4]:
            break
        time.sleep(0.2)
    assert [t["visitsSummary"]["total"] for t in stats] == [0, 4, 0, 4]

    def order(value):
        r = fresh.api("GET", "/tags/stats?orderBy=" + value)
        assert r.status_code == 200, r.text
        return [t["tag"] for t in r.json()["tags"]["data"]]

    # links: beta 3, gamma 2, alpha 1, delta 1; visits: gamma = beta = 4
    # (3 + a bot), nonBots 3; ties by name
    assert order("tag-ASC") == ["alpha", "beta", "delta", "gamma"]
    assert order("tag-DESC") == ["gamma", "delta", "beta", "alpha"]
    assert order("shortUrlsCount-DESC") == ["beta", "gamma", "alpha", "delta"]
    assert order("shortUrlsCount-ASC") == ["alpha", "delta", "gamma", "beta"]
    assert order("visits-DESC") == ["beta", "gamma", "alpha", "delta"]
    assert order("visits-ASC") == ["alpha", "delta", "beta", "gamma"]
    assert order("nonBotVisits-DESC") == ["beta", "gamma", "alpha", "delta"]
    assert order("nonBotVisits-ASC") == ["alpha", "delta", "beta", "gamma"]
    r = fresh.api("GET", "/tags/stats?orderBy=shortUrlsCount-DESC&itemsPerPage=1&page=2")
    page = r.json()["tags"]
    assert [t["tag"] for t in page["data"]] == ["gamma"]
    assert page["pagination"]["totalItems"] == 4
    assert_problem(fresh.api("GET", "/tags/stats?orderBy=visits-UP"), 400, "invalid-data")


def test_delete_tags_without_tags_is_204(fresh):
    fresh.create("https://example.com/dt", tags=["keep"])
    r = fresh.api("DELETE", "/tags")
    assert r.status_code == 204
    assert fresh.api("GET", "/tags").json()["tags"]["data"] == ["keep"]


def test_create_names_every_bad_field(fresh):
    r = fresh.api("POST", "/short-urls", json={
        "longUrl": "javascript:alert(1)", "customSlug": "a/b", "tags": ["BAD TAG"],
        "maxVisits": "x", "validUntil": "nope", "crawlable": "yes", "title": "ok"})
    body = assert_problem(r, 400, "invalid-data")
    assert sorted(body["invalidElements"]) == sorted(
        ["longUrl", "customSlug", "tags", "maxVisits", "validUntil", "crawlable"])
    # one bad field: the same answer as before, naming it alone
    r = fresh.api("POST", "/short-urls", json={"longUrl": "https://example.com/",
                                                "shortCodeLength": 2})
    assert assert_problem(r, 400, "invalid-data")["invalidElements"] == ["shortCodeLength"]
    # a missing longUrl is named once
    r = fresh.api("POST", "/short-urls", json={"tags": "x"})
    assert sorted(assert_problem(r, 400, "invalid-data")["invalidElements"]) == \
        ["longUrl", "tags"]
    assert fresh.api("GET", "/short-urls").json()["shortUrls"]["pagination"]["totalItems"] == 0


def test_page_zero_is_the_first_page(fresh):
    made = [fresh.create(f"https://example.com/p0/{i}")["shortCode"] for i in range(3)]
    r = fresh.api("GET", "/short-urls?page=0&itemsPerPage=2")
    assert r.status_code == 200
    assert r.json()["shortUrls"]["pagination"]["currentPage"] == 1
    assert [u["shortCode"] for u in r.json()["shortUrls"]["data"]] == made[::-1][:2]
