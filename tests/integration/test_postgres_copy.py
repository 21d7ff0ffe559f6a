"""`shorty copy --from STORE --to STORE` (issue 8 item 7): a whole store
into a new, empty one, SQLite -> PostgreSQL -> SQLite, through real
`shorty serve` processes on each store and the real CLI.

What must hold: every link as `shorty export --format json` and the REST
API show it (codes generated, custom and per domain, titles, tags, limits,
redirect rules), every visit of the log with its location, the counts and
totals, the API keys (the old key works on the copy), the domains and their
redirects; after the copy a create gets a new id and code (no clash with a
copied one), and a new key, domain and visit too. A target that is not
empty is refused with one line and left as it was; a failure half way
leaves the target empty (one transaction).
"""
import os
import subprocess

import requests

from helpers import BIN, assert_no_sanitizer_report
from httpfix import Server, wait_flush
from pgfix import psql

ENV = {"SHORTY_TRUSTED_PROXIES": "127.0.0.1", "SHORTY_CODE_LENGTH": "5"}
OTHER = "other.copy.test"


def shorty(*args, db=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTY_")}
    env.update(ENV, ASAN_OPTIONS="detect_leaks=1")
    if db:
        env["SHORTY_DB"] = db
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=120)
    assert_no_sanitizer_report(args, p.stderr)
    return p


def copy(src, dst):
    return shorty("copy", "--from", src, "--to", dst)


def visit(s, path, ip, ua="copy-test"):
    return requests.get(s.url(path), allow_redirects=False, timeout=10,
                        headers={"X-Forwarded-For": ip, "User-Agent": ua})


def populate(s):
    """Links of every kind, rules, tags, a domain with redirects, visits
    (located, by bots, orphan) on a running server; returns their codes."""
    made = [s.create("https://copy.example/generated", tags=["alpha", "beta"], title="T one"),
            s.create("https://copy.example/custom", customSlug="cp-custom", maxVisits=50,
                     validUntil="2099-01-01T00:00:00+00:00", crawlable=True),
            s.create("https://copy.example/other", domain=OTHER, tags=["beta"]),
            s.create("https://copy.example/other-custom", domain=OTHER, customSlug="cp-custom"),
            s.create("https://copy.example/random", findIfExists=False, shortCodeLength=9)]
    rules = [{"longUrl": "https://copy.example/android",
              "conditions": [{"type": "device", "matchKey": None, "matchValue": "android"}]}]
    r = s.api("POST", "/short-urls/cp-custom/redirect-rules", json={"redirectRules": rules})
    assert r.status_code == 200, r.text
    r = s.api("PATCH", "/domains/redirects",
              json={"domain": OTHER, "baseUrlRedirect": "https://copy.example/base",
                    "regular404Redirect": None, "invalidShortUrlRedirect": None})
    assert r.status_code == 200, r.text
    for code in (made[0]["shortCode"], "cp-custom"):
        for ip in ("81.2.69.160", "2a01:4f8:1:2::3", "203.0.113.9"):
            assert visit(s, "/" + code, ip).status_code == 302
        assert visit(s, "/" + code, "1.2.3.4", ua="Googlebot/2.1").status_code == 302
    assert visit(s, "/cp-no-such-code", "81.2.69.7").status_code == 404
    wait_flush()
    return made


def snapshot(s, made):
    """Everything the API and the CLI show of the store behind s."""
    out = {"export": shorty("export", "--format", "json", db=s.db).stdout}
    for l in made:
        q = {"domain": l["domain"]} if l["domain"] else {}
        code = l["shortCode"]
        r = s.api("GET", f"/short-urls/{code}", params=q)
        assert r.status_code == 200, r.text
        out[f"link {l['domain']} {code}"] = r.json()
        r = s.api("GET", f"/short-urls/{code}/visits", params=q)
        assert r.status_code == 200, r.text
        out[f"visits {l['domain']} {code}"] = r.json()["visits"]["data"]
        out[f"rules {l['domain']} {code}"] = s.api(
            "GET", f"/short-urls/{code}/redirect-rules", params=q).json()
    for path in ("/visits", "/visits/orphan", "/tags/stats", "/domains"):
        r = s.api("GET", path)
        assert r.status_code == 200, (path, r.text)
        out[path] = r.json()
    return out


def keys(db):
    p = shorty("key", "list", db=db)
    assert p.returncode == 0, p.stderr
    return p.stdout


def check_after_copy(s, made):
    """On the copy: new ids and codes, keys, domains and visits clash with nothing."""
    codes = {(l["domain"], l["shortCode"]) for l in made}
    for i in range(5):
        new = s.create(f"https://copy.example/after/{i}")
        assert (new["domain"], new["shortCode"]) not in codes
        codes.add((new["domain"], new["shortCode"]))
        assert s.get("/" + new["shortCode"]).headers["Location"] == \
            f"https://copy.example/after/{i}"
    new = s.create("https://copy.example/after-other", domain="third.copy.test")
    assert new["domain"] == "third.copy.test"
    p = shorty("key", "create", "--name", "after", db=s.db)
    assert p.returncode == 0, p.stderr
    assert requests.get(s.url("/rest/v3/short-urls"), timeout=10,
                        headers={"X-Api-Key": p.stdout.strip()}).status_code == 200
    assert visit(s, "/" + made[0]["shortCode"], "81.2.69.160").status_code == 302
    wait_flush()
    r = s.api("GET", f"/short-urls/{made[0]['shortCode']}/visits")
    assert r.json()["visits"]["pagination"]["totalItems"] == 5


def test_round_trip_sqlite_postgres_sqlite(tmp_path, geodb, pgdb):
    env = dict(ENV, SHORTY_GEOIP_DB=str(geodb))
    a = Server(directory=tmp_path / "a", env=env, threads=2)
    (tmp_path / "a").mkdir()
    try:
        a.start()
        made = populate(a)
        key = a.admin_key
        before = snapshot(a, made)
        a.stop()
        keys_before = keys(a.db)

        # the visits are there to compare, located, with a bot among them
        v = before[f"visits None {made[0]['shortCode']}"]
        assert len(v) == 4 and {x["potentialBot"] for x in v} == {True, False}
        assert any(x["visitLocation"] and x["visitLocation"]["cityName"] == "London" for x in v)
        assert before["/visits/orphan"]["visits"]["data"]

        p = copy(a.db, pgdb)
        assert p.returncode == 0, p.stderr
        assert p.stdout == "copied 5 links, 1 API keys, 1 domains, 9 visits\n", p.stdout
        assert keys(pgdb) == keys_before

        b = Server(directory=tmp_path / "a", env=env)
        b.db, b.admin_key = pgdb, key  # the copied key works
        b.start()
        try:
            assert snapshot(b, made) == before
            # the rules work on the copy (HEAD: no visit counted)
            r = requests.head(b.url("/cp-custom"), allow_redirects=False, timeout=10,
                              headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14)"})
            assert r.headers["Location"] == "https://copy.example/android"
            b.stop()
            # and back, into a new SQLite file
            c_db = f"sqlite:{tmp_path / 'c.db'}"
            p = copy(pgdb, c_db)
            assert p.returncode == 0, p.stderr
            # the HEAD is in the log (kind head), never in a list or a count
            assert p.stdout == "copied 5 links, 1 API keys, 1 domains, 10 visits\n", p.stdout
            c = Server(directory=tmp_path / "a", env=env)
            c.db, c.admin_key = c_db, key
            c.start()
            try:
                assert snapshot(c, made) == before
                check_after_copy(c, made)
            finally:
                c.close()
            # creates on PostgreSQL after the copy: new ids, no clash
            b.start()
            check_after_copy(b, made)
        finally:
            b.close()
    finally:
        a.close()


def test_refuses_a_store_that_is_not_empty(tmp_path, pgdb):
    src = f"sqlite:{tmp_path / 'src.db'}"
    assert shorty("add", "https://copy.example/one", db=src).returncode == 0
    assert copy(src, pgdb).returncode == 0
    before = shorty("export", "--format", "json", db=pgdb).stdout
    assert shorty("add", "https://copy.example/two", db=src).returncode == 0
    p = copy(src, pgdb)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "not empty" in p.stderr, p.stderr
    assert shorty("export", "--format", "json", db=pgdb).stdout == before
    # and the same the other way
    other = f"sqlite:{tmp_path / 'other.db'}"
    assert shorty("add", "https://copy.example/three", db=other).returncode == 0
    p = copy(pgdb, other)
    assert p.returncode == 1 and "not empty" in p.stderr, p.stderr


def test_all_or_nothing(tmp_path, pgdb):
    """A row the target refuses half way (a visit count already there for
    the second link: link_counts is not looked at by the emptiness check):
    nothing at all is left in the target."""
    src = f"sqlite:{tmp_path / 'src.db'}"
    for i in range(3):
        assert shorty("add", f"https://copy.example/{i}", db=src).returncode == 0
    assert shorty("migrate", db=pgdb).returncode == 0
    ids = [int(x) for x in subprocess.run(
        ["sqlite3", str(tmp_path / "src.db"), "SELECT id FROM links ORDER BY id"],
        capture_output=True, text=True, check=True).stdout.split()]
    psql(pgdb, f"INSERT INTO link_counts(link_id, visits, bots) VALUES ({ids[1]}, 1, 0)")
    p = copy(src, pgdb)
    assert p.returncode == 1, p.stdout
    assert p.stderr.count("\n") == 1, p.stderr
    assert "visit counts" in p.stderr and "nothing was copied" in p.stderr, p.stderr
    for table in ("links", "codes", "api_keys", "domains", "visits"):
        assert psql(pgdb, f"SELECT count(*) FROM {table}").split()[2] == "0", table


def test_usage_errors(tmp_path):
    for args, status, words in (
            (["copy", "--to", f"sqlite:{tmp_path / 'x.db'}"], 2, "--from"),
            (["copy", "--from", f"sqlite:{tmp_path / 'x.db'}", "--to",
              f"sqlite:{tmp_path / 'x.db'}"], 2, "same store"),
            (["copy", "--from", f"sqlite:{tmp_path / 'none.db'}", "--to",
              f"sqlite:{tmp_path / 'y.db'}"], 1, "no store")):
        p = shorty(*args)
        assert p.returncode == status, (args, p.returncode, p.stderr)
        assert p.stderr.count("\n") == 1 and words in p.stderr, p.stderr
        assert p.stderr.startswith("shorty: ")
