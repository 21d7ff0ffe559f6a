"""Redirect rules (issue 9 item 3) through real requests: GET and POST
/rest/v3/short-urls/{code}/redirect-rules as Shlink 5.1's OpenAPI document
has them, every condition type followed by a real redirect, priorities,
bad input (400 problem+json naming the element, nothing stored), the roles,
and the rules in export and import.

The server believes X-Forwarded-For from 127.0.0.1, so a test can be any
client address, and reads the small GeoIP database of
tests/fixtures/make-geoip-db.pl (81.2.69.0/24 is London, GB)."""
import json
import subprocess

import pytest
import requests

from helpers import ROOT, run_cli
from httpfix import Server, assert_problem

ANDROID = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/116.0.0.0 Mobile Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_2 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/16.2 Mobile/15E148 Safari/604.1")
WINDOWS_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/120.0.0.0 Safari/537.36")
LINUX_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    db = tmp_path_factory.mktemp("geoip") / "test.mmdb"
    subprocess.run(["perl", str(ROOT / "tests" / "fixtures" / "make-geoip-db.pl"), str(db)],
                   check=True, timeout=120)
    s = Server(env={"SHORTY_TRUSTED_PROXIES": "127.0.0.1", "SHORTY_GEOIP_DB": str(db)})
    s.start()
    yield s
    s.close()


def rule(url, *conds):
    return {"longUrl": url, "conditions": [dict(c) for c in conds]}


def cond(type_, value=None, key=None):
    c = {"type": type_, "matchValue": value}
    if key is not None:
        c["matchKey"] = key
    return c


def set_rules(srv, code, rules, key=...):
    return srv.api("POST", f"/short-urls/{code}/redirect-rules", key=key,
                   json={"redirectRules": rules})


def follow(srv, code, query="", ua=WINDOWS_CHROME, ip="203.0.113.9", lang=None):
    headers = {"User-Agent": ua, "X-Forwarded-For": ip}
    if lang:
        headers["Accept-Language"] = lang
    r = srv.get(f"/{code}{query}", headers=headers)
    assert r.status_code == 302, (r.status_code, r.text)
    return r.headers["Location"]


def link_with(srv, slug, *rules):
    srv.create(f"https://default.example/{slug}", customSlug=slug)
    r = set_rules(srv, slug, list(rules))
    assert r.status_code == 200, r.text
    return r.json()


def test_no_rules_at_first(srv):
    srv.create("https://default.example/plain", customSlug="rr-plain")
    r = srv.api("GET", "/short-urls/rr-plain/redirect-rules")
    assert r.status_code == 200
    assert r.json() == {"defaultLongUrl": "https://default.example/plain", "redirectRules": []}
    assert srv.api("GET", "/short-urls/rr-plain").json()["hasRedirectRules"] is False
    assert follow(srv, "rr-plain", ua=ANDROID) == "https://default.example/plain"


def test_set_answers_shlinks_shape_and_get_agrees(srv):
    body = link_with(srv, "rr-shape",
                     rule("https://a.example/android", cond("device", "android")),
                     rule("https://a.example/q", cond("query-param", "x", "utm"),
                          cond("language", "es-AR")))
    assert body == {
        "defaultLongUrl": "https://default.example/rr-shape",
        "redirectRules": [
            {"longUrl": "https://a.example/android", "priority": 1,
             "conditions": [{"type": "device", "matchKey": None, "matchValue": "android"}]},
            {"longUrl": "https://a.example/q", "priority": 2,
             "conditions": [{"type": "query-param", "matchKey": "utm", "matchValue": "x"},
                            {"type": "language", "matchKey": None, "matchValue": "es-AR"}]},
        ],
    }
    assert srv.api("GET", "/short-urls/rr-shape/redirect-rules").json() == body
    assert srv.api("GET", "/short-urls/rr-shape").json()["hasRedirectRules"] is True
    # the list of short URLs says so too
    listed = srv.api("GET", "/short-urls", params={"searchTerm": "rr-shape"}).json()
    assert [u["hasRedirectRules"] for u in listed["shortUrls"]["data"]] == [True]


def test_device(srv):
    link_with(srv, "rr-dev", rule("https://d.example/android", cond("device", "android")),
              rule("https://d.example/ios", cond("device", "ios")),
              rule("https://d.example/desktop", cond("device", "desktop")))
    assert follow(srv, "rr-dev", ua=ANDROID) == "https://d.example/android"
    assert follow(srv, "rr-dev", ua=IPHONE) == "https://d.example/ios"
    assert follow(srv, "rr-dev", ua=WINDOWS_CHROME) == "https://d.example/desktop"
    assert follow(srv, "rr-dev", ua="curl/8.0") == "https://default.example/rr-dev"


def test_language_with_q_values(srv):
    link_with(srv, "rr-lang", rule("https://l.example/fr", cond("language", "fr")),
              rule("https://l.example/pt-br", cond("language", "pt-BR")))
    assert follow(srv, "rr-lang", lang="fr-CA,fr;q=0.9") == "https://l.example/fr"
    assert follow(srv, "rr-lang", lang="pt-BR") == "https://l.example/pt-br"
    # pt of Portugal is not pt-BR; a language refused with q=0 does not count
    assert follow(srv, "rr-lang", lang="pt-PT") == "https://default.example/rr-lang"
    assert follow(srv, "rr-lang", lang="en, fr;q=0") == "https://default.example/rr-lang"
    assert follow(srv, "rr-lang") == "https://default.example/rr-lang"


def test_query_param_kinds(srv):
    link_with(srv, "rr-query",
              rule("https://q.example/news", cond("query-param", "newsletter", "src")),
              rule("https://q.example/any", cond("any-value-query-param", None, "ref")),
              rule("https://q.example/beta", cond("valueless-query-param", None, "beta")))
    assert follow(srv, "rr-query", "?src=newsletter") == "https://q.example/news?src=newsletter"
    assert follow(srv, "rr-query", "?src=other") == "https://default.example/rr-query?src=other"
    assert follow(srv, "rr-query", "?ref=abc") == "https://q.example/any?ref=abc"
    assert follow(srv, "rr-query", "?beta") == "https://q.example/beta?beta"
    assert follow(srv, "rr-query", "?beta=1") == "https://default.example/rr-query?beta=1"


def test_ip_address_exact_cidr_and_wildcard(srv):
    link_with(srv, "rr-ip", rule("https://i.example/exact", cond("ip-address", "198.51.100.7")),
              rule("https://i.example/cidr", cond("ip-address", "10.0.0.0/8")),
              rule("https://i.example/wild", cond("ip-address", "192.168.*.*")))
    assert follow(srv, "rr-ip", ip="198.51.100.7") == "https://i.example/exact"
    assert follow(srv, "rr-ip", ip="198.51.100.8") == "https://default.example/rr-ip"
    assert follow(srv, "rr-ip", ip="10.20.30.40") == "https://i.example/cidr"
    assert follow(srv, "rr-ip", ip="192.168.7.1") == "https://i.example/wild"
    assert follow(srv, "rr-ip", ip="192.169.7.1") == "https://default.example/rr-ip"


def test_geolocation_from_the_geoip_database(srv):
    link_with(srv, "rr-geo", rule("https://g.example/london", cond("geolocation-city-name", "London")),
              rule("https://g.example/us", cond("geolocation-country-code", "US")))
    assert follow(srv, "rr-geo", ip="81.2.69.160") == "https://g.example/london"
    assert follow(srv, "rr-geo", ip="1.2.3.4") == "https://g.example/us"
    # an address the database does not know: no location, no match, no error
    assert follow(srv, "rr-geo", ip="203.0.113.9") == "https://default.example/rr-geo"


def test_dates(srv):
    link_with(srv, "rr-date", rule("https://t.example/future", cond("after-date", "2999-01-01T00:00:00+00:00")),
              rule("https://t.example/now", cond("before-date", "2999-01-01T00:00:00+00:00"),
                   cond("after-date", "2001-01-01T00:00:00+00:00")))
    assert follow(srv, "rr-date") == "https://t.example/now"
    link_with(srv, "rr-past", rule("https://t.example/past", cond("before-date", "2001-01-01T00:00:00+00:00")))
    assert follow(srv, "rr-past") == "https://default.example/rr-past"


def test_browser(srv):
    link_with(srv, "rr-browser", rule("https://b.example/firefox", cond("browser", "firefox")),
              rule("https://b.example/chrome", cond("browser", "chrome")))
    assert follow(srv, "rr-browser", ua=LINUX_FIREFOX) == "https://b.example/firefox"
    assert follow(srv, "rr-browser", ua=WINDOWS_CHROME) == "https://b.example/chrome"
    assert follow(srv, "rr-browser", ua=IPHONE) == "https://default.example/rr-browser"


def test_priority_all_conditions_and_replacement(srv):
    link_with(srv, "rr-prio",
              rule("https://p.example/both", cond("device", "android"), cond("language", "de")),
              rule("https://p.example/android", cond("device", "android")))
    assert follow(srv, "rr-prio", ua=ANDROID, lang="de-DE") == "https://p.example/both"
    assert follow(srv, "rr-prio", ua=ANDROID, lang="en") == "https://p.example/android"
    # a new list replaces the old one at once (the cached rules too)
    r = set_rules(srv, "rr-prio", [rule("https://p.example/new", cond("device", "android"))])
    assert r.status_code == 200
    assert follow(srv, "rr-prio", ua=ANDROID, lang="de-DE") == "https://p.example/new"
    # an empty list removes them
    r = set_rules(srv, "rr-prio", [])
    assert r.json()["redirectRules"] == []
    assert srv.api("GET", "/short-urls/rr-prio").json()["hasRedirectRules"] is False
    assert follow(srv, "rr-prio", ua=ANDROID) == "https://default.example/rr-prio"


@pytest.mark.parametrize("body,detail", [
    ({"redirectRules": [rule("https://x.example/", cond("planet", "mars"))]},
     "redirectRules[0].conditions[0].type"),
    ({"redirectRules": [rule("https://x.example/", cond("device", "toaster"))]},
     "redirectRules[0].conditions[0].matchValue"),
    ({"redirectRules": [{"longUrl": "https://x.example/"}]}, "redirectRules[0].conditions"),
    ({"redirectRules": [rule("javascript:alert(1)", cond("device", "ios"))]},
     "redirectRules[0].longUrl"),
    ({"redirectRules": [rule("https://x.example/", cond("ip-address", "10.0.0.0/40"))]},
     "redirectRules[0].conditions[0].matchValue"),
    ({"redirectRules": [rule("https://x.example/", cond("geolocation-country-code", "XX"))]},
     "redirectRules[0].conditions[0].matchValue"),
    ({"redirectRules": "all of them"}, "redirectRules"),
    ({}, "redirectRules"),
])
def test_bad_rules_are_400_and_nothing_is_stored(srv, body, detail):
    code = "rr-bad"
    if srv.api("GET", f"/short-urls/{code}").status_code == 404:
        link_with(srv, code, rule("https://keep.example/", cond("device", "ios")))
    before = srv.api("GET", f"/short-urls/{code}/redirect-rules").json()
    r = srv.api("POST", f"/short-urls/{code}/redirect-rules", json=body)
    problem = assert_problem(r, 400, "invalid-data")
    assert problem["detail"].startswith(detail), problem
    assert problem["invalidElements"] == ["redirectRules"]
    assert srv.api("GET", f"/short-urls/{code}/redirect-rules").json() == before
    assert follow(srv, code, ua=IPHONE) == "https://keep.example/"


def test_not_json_and_unknown_code(srv):
    srv.create("https://default.example/nj", customSlug="rr-nj")
    r = srv.api("POST", "/short-urls/rr-nj/redirect-rules", data="{",
                headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    for method in ("GET", "POST"):
        r = srv.api(method, "/short-urls/no-such-code/redirect-rules",
                    json={"redirectRules": []})
        body = assert_problem(r, 404, "short-url-not-found")
        assert body["shortCode"] == "no-such-code"


def test_roles(srv):
    srv.create("https://default.example/admins", customSlug="rr-admins")
    ro = srv.key("read-only", "rr-ro")
    author = srv.key("author", "rr-author")
    # read-only: reads, never writes
    assert srv.api("GET", "/short-urls/rr-admins/redirect-rules", key=ro).status_code == 200
    r = set_rules(srv, "rr-admins", [rule("https://x.example/", cond("device", "ios"))], key=ro)
    assert_problem(r, 403)
    assert srv.api("GET", "/short-urls/rr-admins").json()["hasRedirectRules"] is False
    # an author sees and changes its own links only
    for r in (srv.api("GET", "/short-urls/rr-admins/redirect-rules", key=author),
              set_rules(srv, "rr-admins", [], key=author)):
        assert_problem(r, 404, "short-url-not-found")
    srv.create("https://default.example/mine", key=author, customSlug="rr-mine")
    r = set_rules(srv, "rr-mine", [rule("https://mine.example/ios", cond("device", "ios"))],
                  key=author)
    assert r.status_code == 200, r.text
    assert follow(srv, "rr-mine", ua=IPHONE) == "https://mine.example/ios"
    # no key: 401
    r = srv.api("GET", "/short-urls/rr-mine/redirect-rules", key=None)
    assert_problem(r, 401)


def test_rules_survive_a_restart(tmp_path):
    s = Server(directory=tmp_path)
    s.start()
    try:
        s.create("https://default.example/kept", customSlug="rr-kept")
        assert set_rules(s, "rr-kept", [rule("https://k.example/a", cond("device", "android"))]).status_code == 200
        s.stop()
        s.start()
        assert follow(s, "rr-kept", ua=ANDROID) == "https://k.example/a"
    finally:
        s.close()


def test_rules_in_json_export_and_import(tmp_path):
    s = Server(directory=tmp_path / "a")
    (tmp_path / "a").mkdir()
    s.start()
    try:
        s.create("https://default.example/exp", customSlug="rr-exp")
        s.create("https://default.example/none", customSlug="rr-none")
        rules = [rule("https://e.example/ios", cond("device", "ios")),
                 rule("https://e.example/q", cond("query-param", "b", "a"))]
        want = set_rules(s, "rr-exp", rules).json()["redirectRules"]
        out = s.cli("export", "--format", "json")
    finally:
        s.close()
    items = {i["shortCode"]: i for i in json.loads(out)}
    assert items["rr-exp"]["redirectRules"] == want
    assert items["rr-none"]["redirectRules"] == []
    dump = tmp_path / "links.json"
    dump.write_text(out)
    t = Server(directory=tmp_path / "b")
    (tmp_path / "b").mkdir()
    try:
        t.cli("import", str(dump))
        t.start()
        assert t.api("GET", "/short-urls/rr-exp/redirect-rules").json()["redirectRules"] == want
        assert follow(t, "rr-exp", ua=IPHONE) == "https://e.example/ios"
        assert t.api("GET", "/short-urls/rr-none").json()["hasRedirectRules"] is False
    finally:
        t.close()


def test_a_bad_rule_in_an_import_names_it_and_imports_nothing(tmp_path):
    s = Server(directory=tmp_path)
    dump = tmp_path / "bad.json"
    dump.write_text(json.dumps([
        {"longUrl": "https://ok.example/", "customSlug": "fine"},
        {"longUrl": "https://ok.example/2", "customSlug": "broken",
         "redirectRules": [rule("https://x.example/", cond("device", "toaster"))]},
    ]))
    p = run_cli("import", dump, env=s.env(), cwd=tmp_path)
    assert p.returncode != 0
    err = p.stderr.strip().splitlines()
    assert len(err) == 1, p.stderr
    assert "redirectRules[0].conditions[0].matchValue" in err[0]
    assert err[0].endswith("nothing was imported")
    assert s.cli("export", "--format", "json").strip() == "[]"
