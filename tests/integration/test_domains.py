"""Issue 9 item 2: multi-domain, as Shlink 5.1 has it
(shared/research/shlink-parity.md gaps 3, 5 and 9). One server, several
domains: a request's Host header picks the domain. The default domain is the
base URL's authority (here s.test); every other host is the default domain
too unless a link or a redirect named it."""
import sqlite3
import time
import uuid

import pytest
import requests

from helpers import run_cli
from httpfix import Server, assert_problem, wait_flush

DEFAULT = "s.test"


def pg_database():
    """A fresh database on the suite's PostgreSQL cluster: (its URL, a drop)."""
    from pgfix import cluster_url, psql, with_db
    base = cluster_url()
    name = "dom_" + uuid.uuid4().hex[:12]
    psql(base, f"CREATE DATABASE {name}")
    return with_db(base, name), lambda: psql(base, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def srv(request):
    """One server, on each store backend."""
    env = {"SHORTY_BASE_URL": f"http://{DEFAULT}",
           "SHORTY_INVALID_SHORT_URL_REDIRECT": "https://default.example/invalid"}
    drop = None
    if request.param == "postgres":
        env["SHORTY_DB"], drop = pg_database()
    s = Server(env=env)
    if drop:
        s.db = env["SHORTY_DB"]
    try:
        s.start()
        yield s
    finally:
        s.close()
        if drop:
            drop()


def on(srv, host, path, method="GET"):
    """A request to the server as if sent to host."""
    return requests.request(method, srv.url(path), headers={"Host": host},
                            allow_redirects=False, timeout=10)


def test_same_custom_code_on_two_domains(srv):
    a = srv.create("https://example.com/default", customSlug="same")
    b = srv.create("https://example.com/other", customSlug="same", domain="other.test")
    assert a["domain"] is None and a["shortUrl"] == f"http://{DEFAULT}/same"
    assert b["domain"] == "other.test" and b["shortUrl"] == "http://other.test/same"
    # the default authority names the default domain
    c = srv.create("https://example.com/c", customSlug="c1", domain=DEFAULT.upper())
    assert c["domain"] is None
    # taken on its own domain only
    r = srv.api("POST", "/short-urls", json={"longUrl": "https://example.com/x",
                                              "customSlug": "same", "domain": "other.test"})
    assert_problem(r, 400, "non-unique-slug")
    # each host gets its own link
    assert on(srv, "other.test", "/same").headers["Location"] == "https://example.com/other"
    assert on(srv, DEFAULT, "/same").headers["Location"] == "https://example.com/default"
    # an unknown host is the default domain
    assert on(srv, "nobody.test", "/same").headers["Location"] == "https://example.com/default"


def test_fallback_to_the_default_domain(srv):
    srv.create("https://example.com/only-default", customSlug="fb")
    gen = srv.create("https://example.com/gen-on-other", domain="other.test")
    r = on(srv, "other.test", "/fb")
    assert r.status_code == 302 and r.headers["Location"] == "https://example.com/only-default"
    # a generated code is its domain's: the default domain does not see it
    code = gen["shortCode"]
    assert on(srv, "other.test", "/" + code).headers["Location"] == \
        "https://example.com/gen-on-other"
    r = on(srv, DEFAULT, "/" + code)
    assert r.status_code == 302 and r.headers["Location"] == "https://default.example/invalid"


def test_rest_domain_parameter(srv):
    srv.create("https://example.com/d0", customSlug="k")
    srv.create("https://example.com/d1", customSlug="k", domain="other.test", tags=["t"])
    r = srv.api("GET", "/short-urls/k", params={"domain": "other.test"})
    assert r.status_code == 200 and r.json()["longUrl"] == "https://example.com/d1"
    assert srv.api("GET", "/short-urls/k").json()["longUrl"] == "https://example.com/d0"
    assert srv.api("GET", "/short-urls/k", params={"domain": DEFAULT}).json()["domain"] is None
    # a domain that has no such code: 404 naming it
    r = srv.api("GET", "/short-urls/k", params={"domain": "third.test"})
    body = assert_problem(r, 404, "short-url-not-found")
    assert body["shortCode"] == "k" and body["domain"] == "third.test"
    assert "third.test" in body["detail"]
    # edit on one domain leaves the other
    r = srv.api("PATCH", "/short-urls/k", params={"domain": "other.test"},
                json={"title": "other"})
    assert r.status_code == 200 and r.json()["title"] == "other"
    assert srv.api("GET", "/short-urls/k").json()["title"] is None
    r = srv.api("PATCH", "/short-urls/k", params={"domain": "third.test"}, json={"title": "x"})
    assert assert_problem(r, 404, "short-url-not-found")["domain"] == "third.test"
    # visits per domain
    on(srv, "other.test", "/k")
    on(srv, "other.test", "/k")
    on(srv, DEFAULT, "/k")
    wait_flush()
    r = srv.api("GET", "/short-urls/k/visits", params={"domain": "other.test"})
    assert r.json()["visits"]["pagination"]["totalItems"] == 2
    assert srv.api("GET", "/short-urls/k/visits").json()["visits"]["pagination"][
        "totalItems"] == 1
    r = srv.api("GET", "/domains/other.test/visits")
    assert r.status_code == 200 and r.json()["visits"]["pagination"]["totalItems"] == 2
    assert srv.api("GET", "/domains/DEFAULT/visits").json()["visits"]["pagination"][
        "totalItems"] == 1
    assert srv.api("GET", f"/domains/{DEFAULT}/visits").json()["visits"]["pagination"][
        "totalItems"] == 1
    # the tag and non-orphan visit lists take a domain too
    def total(path, domain):
        r = srv.api("GET", path, params={"domain": domain})
        assert r.status_code == 200, r.text
        return r.json()["visits"]["pagination"]["totalItems"]
    assert total("/visits/non-orphan", "other.test") == 2
    assert total("/visits/non-orphan", "DEFAULT") == 1
    assert total("/visits/non-orphan", "third.test") == 0
    assert total("/tags/t/visits", "other.test") == 2
    assert total("/tags/t/visits", "DEFAULT") == 0
    body = assert_problem(srv.api("GET", "/domains/third.test/visits"), 404, "domain-not-found")
    assert body["authority"] == "third.test"
    # the list filter
    def codes(q):
        r = srv.api("GET", "/short-urls", params=q)
        assert r.status_code == 200
        return [(u["shortCode"], u["domain"]) for u in r.json()["shortUrls"]["data"]]
    assert codes({"domain": "other.test"}) == [("k", "other.test")]
    assert codes({"domain": "DEFAULT"}) == [("k", None)]
    assert codes({"domain": "third.test"}) == []
    assert sorted(codes({}), key=str) == sorted([("k", None), ("k", "other.test")], key=str)
    # delete on one domain leaves the other
    r = srv.api("DELETE", "/short-urls/k", params={"domain": "other.test"})
    assert r.status_code == 204
    assert on(srv, "other.test", "/k").headers["Location"] == "https://example.com/d0"
    assert srv.api("GET", "/short-urls/k").status_code == 200
    r = srv.api("DELETE", "/short-urls/k", params={"domain": "other.test"})
    assert_problem(r, 404, "short-url-not-found")


def test_bad_domain_on_create_is_invalid_data(srv):
    for bad in ["not a host", "-x.test", "a..b", "x.test:0", "x.test:99999", "ex/ample"]:
        r = srv.api("POST", "/short-urls", json={"longUrl": "https://example.com/", "domain": bad})
        body = assert_problem(r, 400, "invalid-data")
        assert body["invalidElements"] == ["domain"], (bad, body)
    r = srv.api("POST", "/short-urls", json={"longUrl": "https://example.com/", "domain": 5})
    assert assert_problem(r, 400, "invalid-data")["invalidElements"] == ["domain"]
    # every bad field is named
    r = srv.api("POST", "/short-urls", json={"longUrl": "nope", "domain": "a b"})
    assert sorted(assert_problem(r, 400, "invalid-data")["invalidElements"]) == \
        ["domain", "longUrl"]
    # nothing was stored
    assert srv.api("GET", "/short-urls").json()["shortUrls"]["pagination"]["totalItems"] == 0
    assert [d["domain"] for d in srv.api("GET", "/domains").json()["domains"]["data"]] == \
        [DEFAULT]


def test_list_domains_and_edit_redirects(srv):
    r = srv.api("GET", "/domains")
    assert r.status_code == 200
    defaults = {"baseUrlRedirect": None, "regular404Redirect": None,
                "invalidShortUrlRedirect": "https://default.example/invalid"}
    assert r.json() == {"domains": {
        "data": [{"domain": DEFAULT, "isDefault": True, "redirects": defaults}],
        "defaultRedirects": defaults}}
    srv.create("https://example.com/x", domain="other.test")
    r = srv.api("PATCH", "/domains/redirects",
                json={"domain": "other.test", "baseUrlRedirect": "https://other.example/base",
                      "regular404Redirect": "https://other.example/404"})
    assert r.status_code == 200, r.text
    assert r.json() == {"baseUrlRedirect": "https://other.example/base",
                        "regular404Redirect": "https://other.example/404",
                        "invalidShortUrlRedirect": None}
    # a domain no link is on yet is made by its redirects
    r = srv.api("PATCH", "/domains/redirects",
                json={"domain": "third.test", "invalidShortUrlRedirect": "https://t.example/"})
    assert r.status_code == 200
    data = srv.api("GET", "/domains").json()["domains"]["data"]
    assert [(d["domain"], d["isDefault"]) for d in data] == \
        [(DEFAULT, True), ("other.test", False), ("third.test", False)]
    assert data[1]["redirects"]["baseUrlRedirect"] == "https://other.example/base"
    # what is absent stays; null clears
    r = srv.api("PATCH", "/domains/redirects",
                json={"domain": "other.test", "baseUrlRedirect": None})
    assert r.json() == {"baseUrlRedirect": None,
                        "regular404Redirect": "https://other.example/404",
                        "invalidShortUrlRedirect": None}
    # the redirects are followed on that host
    assert on(srv, "other.test", "/no/such/path").headers["Location"] == \
        "https://other.example/404"
    r = on(srv, "other.test", "/")
    assert r.status_code == 200  # base URL redirect was cleared: the page
    # no invalid-short-URL redirect of its own: the default one
    assert on(srv, "other.test", "/nosuch").headers["Location"] == \
        "https://default.example/invalid"
    assert on(srv, "third.test", "/nosuch").headers["Location"] == "https://t.example/"
    # the default domain's come from the configuration
    assert on(srv, DEFAULT, "/no/such/path").status_code == 404
    assert on(srv, DEFAULT, "/nosuch").headers["Location"] == "https://default.example/invalid"
    r = srv.api("PATCH", "/domains/redirects", json={"domain": DEFAULT,
                                                     "baseUrlRedirect": "https://x.example/"})
    body = assert_problem(r, 400, "invalid-domain")
    assert "configuration" in body["detail"]


def test_edit_redirects_errors(srv):
    for body, field in [({}, "domain"), ({"domain": ""}, "domain"),
                        ({"domain": "a b"}, "domain"),
                        ({"domain": "o.test", "baseUrlRedirect": 5}, "baseUrlRedirect"),
                        ({"domain": "o.test", "regular404Redirect": "not a url"},
                         "regular404Redirect"),
                        ({"domain": "o.test", "invalidShortUrlRedirect": "ftp://x.example/"},
                         "invalidShortUrlRedirect")]:
        r = srv.api("PATCH", "/domains/redirects", json=body)
        assert assert_problem(r, 400, "invalid-data")["invalidElements"] == [field], body
    assert len(srv.api("GET", "/domains").json()["domains"]["data"]) == 1
    r = srv.api("PATCH", "/domains/redirects", json={"domain": "o.test"},
                key=srv.key("author"))
    assert_problem(r, 403)
    r = srv.api("PATCH", "/domains/redirects", data="{", headers={
        "Content-Type": "application/json"})
    assert r.status_code == 400
    assert on(srv, DEFAULT, "/health").status_code == 200


def test_schema_3_store_migrates(tmp_path):
    """A store made before domains keeps its links, on the default domain."""
    s = Server(directory=tmp_path, env={"SHORTY_BASE_URL": f"http://{DEFAULT}"})
    try:
        s.start()
        s.create("https://example.com/old", customSlug="old1")
        gen = s.create("https://example.com/gen")
        s.stop()
        db = tmp_path / "shorty.db"
        # back to schema 3: what a shorty before domains left (migration
        # 6's runs of the log's index and 5's dedupe claim undone first)
        con = sqlite3.connect(db)
        con.executescript(
            "DROP TABLE visit_runs; DROP TABLE visits_by_link;"
            "CREATE TABLE visits_by_link(link_id INTEGER NOT NULL, id INTEGER NOT NULL,"
            " PRIMARY KEY(link_id, id)) WITHOUT ROWID;"
            "DROP INDEX links_dedupe; ALTER TABLE links DROP COLUMN dedupe;"
            "CREATE TABLE codes3(code TEXT COLLATE BINARY PRIMARY KEY,"
            " link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE) WITHOUT ROWID;"
            "INSERT INTO codes3 SELECT code, link_id FROM codes;"
            "DROP TABLE codes; ALTER TABLE codes3 RENAME TO codes;"
            "CREATE UNIQUE INDEX codes_link ON codes(link_id);"
            "DROP TABLE domains; ALTER TABLE links DROP COLUMN domain_id;"
            "PRAGMA user_version = 3;")
        con.close()
        p = run_cli("migrate", env=s.env(), cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA user_version").fetchone()[0] == 6
        con.close()
        s.start()
        assert s.api("GET", "/short-urls/old1").json()["domain"] is None
        assert on(s, DEFAULT, "/old1").headers["Location"] == "https://example.com/old"
        assert on(s, DEFAULT, "/" + gen["shortCode"]).headers["Location"] == \
            "https://example.com/gen"
        assert s.create("https://example.com/new", customSlug="old1",
                        domain="n.test")["domain"] == "n.test"
    finally:
        s.close()


def cli_fails(srv, *args):
    p = run_cli(*args, env=srv.env(), cwd=srv.dir)
    assert p.returncode != 0 and p.stderr.startswith("shorty: ") and \
        len(p.stderr.splitlines()) == 1, (args, p.returncode, p.stderr)
    return p.stderr


def test_cli_domain(srv):
    assert srv.cli("add", "https://example.com/c0", "--code", "cc").strip() == \
        f"http://{DEFAULT}/cc"
    assert srv.cli("add", "https://example.com/c1", "--code", "cc", "--domain",
                   "Other.Test").strip() == "http://other.test/cc"
    assert "already taken" in cli_fails(srv, "add", "https://example.com/x", "--code", "cc",
                                        "--domain", "other.test")
    assert "domain" in cli_fails(srv, "add", "https://example.com/x", "--domain", "a b")
    assert srv.cli("resolve", "cc").strip() == "https://example.com/c0"
    assert srv.cli("resolve", "cc", "--domain", "other.test").strip() == "https://example.com/c1"
    assert srv.cli("resolve", "cc", "--domain", DEFAULT).strip() == "https://example.com/c0"
    assert "on the domain third.test" in cli_fails(srv, "resolve", "cc", "--domain",
                                                   "third.test")
    info = srv.cli("info", "cc", "--domain", "other.test")
    assert "http://other.test/cc" in info and "domain:" in info
    import json
    assert json.loads(srv.cli("info", "cc", "--domain", "other.test", "--json"))["domain"] == \
        "other.test"
    lines = srv.cli("list", "--domain", "other.test").splitlines()
    assert lines == ["cc\thttp://other.test/cc\thttps://example.com/c1"]
    assert srv.cli("list", "--domain", "DEFAULT").splitlines() == \
        [f"cc\thttp://{DEFAULT}/cc\thttps://example.com/c0"]
    assert srv.cli("list", "--domain", "third.test") == ""
    assert len(srv.cli("list").splitlines()) == 2
    # the server learns of a domain another process made within its refresh
    # (the writer reads the domains again every 2 s)
    deadline = time.monotonic() + 5
    while on(srv, "other.test", "/cc").headers["Location"] != "https://example.com/c1":
        assert time.monotonic() < deadline, "the server never saw the CLI's domain"
        time.sleep(0.2)
    srv.cli("delete", "cc", "--domain", "other.test")
    # (the server's cache learns of another process's delete by its TTL)
    assert srv.api("GET", "/short-urls/cc", params={"domain": "other.test"}).status_code == 404
    assert srv.api("GET", "/short-urls/cc").status_code == 200
    assert "on the domain other.test" in cli_fails(srv, "delete", "cc", "--domain",
                                                   "other.test")
    assert srv.cli("resolve", "cc").strip() == "https://example.com/c0"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_import_carry_the_domain(tmp_path, fmt):
    """export writes each link's domain; import puts it back on it."""
    a = Server(directory=tmp_path / "a", env={"SHORTY_BASE_URL": f"http://{DEFAULT}"})
    (tmp_path / "a").mkdir()
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    try:
        a.start()
        a.create("https://example.com/e0", customSlug="e")
        a.create("https://example.com/e1", customSlug="e", domain="other.test")
        gen = a.create("https://example.com/g1", domain="other.test")
        out = a.cli("export", "--format", fmt)
        (tmp_path / f"links.{fmt}").write_text(out)
        b = Server(directory=b_dir, env={"SHORTY_BASE_URL": f"http://{DEFAULT}"})
        try:
            assert b.cli("import", str(tmp_path / f"links.{fmt}")) == "imported 3 links\n"
            b.start()
            assert on(b, "other.test", "/e").headers["Location"] == "https://example.com/e1"
            assert on(b, DEFAULT, "/e").headers["Location"] == "https://example.com/e0"
            r = b.api("GET", "/short-urls/" + gen["shortCode"], params={"domain": "other.test"})
            assert r.status_code == 200 and r.json()["domain"] == "other.test"
        finally:
            b.close()
    finally:
        a.close()


def test_redirect_rules_per_domain(srv):
    srv.create("https://example.com/r0", customSlug="r")
    srv.create("https://example.com/r1", customSlug="r", domain="other.test")
    rules = {"redirectRules": [{"longUrl": "https://example.com/fr", "conditions": [
        {"type": "language", "matchKey": None, "matchValue": "fr"}]}]}
    r = srv.api("POST", "/short-urls/r/redirect-rules", params={"domain": "other.test"},
                json=rules)
    assert r.status_code == 200, r.text
    assert r.json()["defaultLongUrl"] == "https://example.com/r1"
    got = srv.api("GET", "/short-urls/r/redirect-rules", params={"domain": "other.test"}).json()
    assert [x["longUrl"] for x in got["redirectRules"]] == ["https://example.com/fr"]
    assert srv.api("GET", "/short-urls/r/redirect-rules").json()["redirectRules"] == []
    fr = {"Host": "other.test", "Accept-Language": "fr"}
    r = requests.get(srv.url("/r"), headers=fr, allow_redirects=False, timeout=10)
    assert r.headers["Location"] == "https://example.com/fr"
    r = requests.get(srv.url("/r"), headers={**fr, "Host": DEFAULT}, allow_redirects=False,
                     timeout=10)
    assert r.headers["Location"] == "https://example.com/r0"
    r = srv.api("GET", "/short-urls/r/redirect-rules", params={"domain": "third.test"})
    assert_problem(r, 404, "short-url-not-found")


def test_postgres_schema_3_store_migrates(tmp_path):
    """A PostgreSQL store made before domains keeps its links and codes."""
    from pgfix import psql
    db, drop = pg_database()
    s = Server(directory=tmp_path, env={"SHORTY_BASE_URL": f"http://{DEFAULT}",
                                        "SHORTY_DB": db})
    s.db = db
    try:
        s.start()
        s.create("https://example.com/old", customSlug="old1")
        gen = s.create("https://example.com/gen")
        s.stop()
        psql(db, "DROP INDEX links_dedupe; ALTER TABLE links DROP COLUMN dedupe;"
                 "ALTER TABLE codes DROP CONSTRAINT codes_pkey;"
                 "ALTER TABLE codes DROP COLUMN domain_id;"
                 "ALTER TABLE codes ADD PRIMARY KEY (code);"
                 "ALTER TABLE links DROP COLUMN domain_id; DROP TABLE domains;"
                 "UPDATE shorty_schema SET version = 3")
        p = run_cli("migrate", env=s.env(), cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        assert psql(db, "SELECT 'v=' || max(version) FROM shorty_schema").count("v=6") == 1
        s.start()
        assert on(s, DEFAULT, "/old1").headers["Location"] == "https://example.com/old"
        assert on(s, DEFAULT, "/" + gen["shortCode"]).headers["Location"] == \
            "https://example.com/gen"
        assert s.create("https://example.com/new", customSlug="old1",
                        domain="n.test")["domain"] == "n.test"
        r = s.api("POST", "/short-urls", json={"longUrl": "https://example.com/x",
                                                "customSlug": "old1"})
        assert_problem(r, 400, "non-unique-slug")
    finally:
        s.close()
        drop()
