"""The YOURLS API (/yourls-api.php) against a real `shorty serve`.

Answers are compared with YOURLS 1.10's: bodies, key order, string status
codes, the HTTP status taken from statusCode/errorCode; every auth form and
the classic bypasses (CVE-2019-14537 "0e" signatures, empty signatures,
md5); JSONP never reflected; nothing stored when a call fails.
"""
import hashlib
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from httpfix import Server, wait_flush

USER, PASSWORD = "yadmin", "correct horse battery"
TOKEN = hashlib.sha256(b"shorty-yourls-token\n" + USER.encode() + b"\n"
                       + PASSWORD.encode()).hexdigest()[:32]
SHORTURL_KEYS = ["status", "code", "message", "errorCode", "statusCode", "url", "title",
                 "shorturl"]


@pytest.fixture(scope="module")
def ys():
    s = Server(env={"SHORTY_YOURLS_USERNAME": USER, "SHORTY_YOURLS_PASSWORD": PASSWORD})
    s.start()
    yield s
    s.close()


def api(srv, method="GET", files=None, **params):
    """One call; `signature` defaults to the admin key (None: no auth)."""
    params.setdefault("signature", srv.admin_key)
    params = {k: v for k, v in params.items() if v is not None}
    url = srv.url("/yourls-api.php")
    if method == "GET":
        return requests.get(url, params=params, timeout=10, allow_redirects=False)
    if method == "HEAD":
        return requests.head(url, params=params, timeout=10, allow_redirects=False)
    if files:  # multipart, as ShareX sends
        return requests.post(url, files={k: (None, v) for k, v in params.items()},
                             timeout=10, allow_redirects=False)
    return requests.post(url, data=params, timeout=10, allow_redirects=False)


def jcall(srv, **params):
    params.setdefault("format", "json")
    r = api(srv, **params)
    assert r.headers["Content-Type"].startswith("application/json"), (r.headers, r.text)
    return r, r.json()


def total_links(srv):
    r, body = jcall(srv, action="db-stats")
    assert r.status_code == 200
    return body["db-stats"]["total_links"]


def code_of(shorturl):
    return shorturl.rsplit("/", 1)[1]


def xml_of(r):
    assert r.headers["Content-Type"].startswith("application/xml"), r.headers
    assert r.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<root>')
    return ET.fromstring(r.content)


# ---- shorturl --------------------------------------------------------------

def test_shorturl_json_success_shape_and_redirect(ys):
    r, b = jcall(ys, action="shorturl", url="https://example.com/one?a=1&b=2", title="One")
    assert r.status_code == 200
    assert list(b) == SHORTURL_KEYS
    assert b["status"] == "success" and b["code"] == "" and b["errorCode"] == ""
    assert b["statusCode"] == "200"
    assert b["message"] == "https://example.com/one?a=1&b=2 added to database"
    assert list(b["url"]) == ["keyword", "url", "title", "date", "ip"]
    assert b["url"]["url"] == "https://example.com/one?a=1&b=2"
    assert b["url"]["title"] == b["title"] == "One"
    assert b["url"]["ip"] == "127.0.0.1"
    time.strptime(b["url"]["date"], "%Y-%m-%d %H:%M:%S")
    code = b["url"]["keyword"]
    assert b["shorturl"].endswith("/" + code)
    red = ys.get("/" + code)
    assert red.status_code == 302 and red.headers["Location"] == "https://example.com/one?a=1&b=2"


def test_shorturl_long_url_message_is_trimmed_as_yourls(ys):
    long_url = "https://example.com/" + "x" * 100
    r, b = jcall(ys, action="shorturl", url=long_url)
    assert r.status_code == 200
    assert b["message"] == long_url[:55] + "[...] added to database"
    assert b["url"]["url"] == long_url
    assert b["title"] == long_url  # no title given: the URL, as YOURLS shows


def test_shorturl_duplicate_answers_error_url_with_the_link(ys):
    _, first = jcall(ys, action="shorturl", url="https://dup.example/page", title="Dup")
    n = total_links(ys)
    r, b = jcall(ys, action="shorturl", url="https://dup.example/page")
    assert r.status_code == 400
    assert list(b) == SHORTURL_KEYS
    assert b["status"] == "fail" and b["code"] == "error:url"
    assert b["errorCode"] == "400" and b["statusCode"] == "400"
    host = first["shorturl"].split("://", 1)[1]
    assert b["message"] == f"https://dup.example/page already exists in database (short URL: {host})"
    assert list(b["url"]) == ["keyword", "url", "title", "date", "ip", "clicks"]
    assert b["url"]["keyword"] == first["url"]["keyword"]
    assert b["url"]["clicks"] == 0
    assert b["shorturl"] == first["shorturl"] and b["title"] == "Dup"
    assert total_links(ys) == n
    # simple: YOURLS still prints the (existing) short URL, with the 400
    r = api(ys, action="shorturl", format="simple", url="https://dup.example/page")
    assert r.status_code == 400 and r.text == first["shorturl"]


def test_shorturl_keyword_taken_and_reserved(ys):
    r, b = jcall(ys, action="shorturl", url="https://kw.example/1", keyword="taken1")
    assert r.status_code == 200 and b["url"]["keyword"] == "taken1"
    n = total_links(ys)
    r, b = jcall(ys, action="shorturl", url="https://kw.example/2", keyword="taken1")
    assert r.status_code == 400
    assert b == {"status": "fail", "code": "error:keyword",
                 "message": "Short URL taken1 already exists in database or is reserved",
                 "errorCode": "400", "statusCode": "400"}
    r, b = jcall(ys, action="shorturl", url="https://kw.example/3", keyword="health")
    assert r.status_code == 400 and b["code"] == "error:keyword"
    r, b = jcall(ys, action="shorturl", url="https://kw.example/4", keyword="bad/slash")
    assert r.status_code == 400 and b["code"] == "error:keyword" and b["message"]
    assert total_links(ys) == n


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "ftp://example.com/x", "not a url",
                                 "https://user:pw@example.com/", "/relative"])
def test_shorturl_invalid_url_is_error_nourl_with_the_reason(ys, bad):
    n = total_links(ys)
    r, b = jcall(ys, action="shorturl", url=bad)
    assert r.status_code == 400
    assert list(b) == ["status", "code", "message", "errorCode", "statusCode"]
    assert b["status"] == "fail" and b["code"] == "error:nourl"
    assert b["errorCode"] == b["statusCode"] == "400"
    assert b["message"] and b["message"] != "Missing or malformed URL"
    assert total_links(ys) == n


def test_shorturl_missing_url(ys):
    for params in ({}, {"url": ""}):
        r, b = jcall(ys, action="shorturl", **params)
        assert r.status_code == 400
        assert b == {"status": "fail", "code": "error:nourl",
                     "message": "Missing or malformed URL", "errorCode": "400",
                     "statusCode": "400"}


def test_shorturl_self_loop_is_noloop(ys):
    n = total_links(ys)
    r, b = jcall(ys, action="shorturl", url="http://localhost:8000/abcdef")
    assert r.status_code == 400
    assert b["code"] == "error:noloop" and b["message"] == "URL is a short URL"
    assert total_links(ys) == n


def test_shorturl_xml_is_escaped_and_default(ys):
    # no format: XML, as YOURLS
    r = api(ys, action="shorturl", url="https://xml.example/?a=1&b=<2>",
            title='<script>alert("x")</script> & \'co\'')
    assert r.status_code == 200
    root = xml_of(r)
    assert root.tag == "root"
    assert [c.tag for c in root] == SHORTURL_KEYS
    assert root.findtext("status") == "success"
    assert root.findtext("statusCode") == "200"
    assert root.findtext("code") in ("", None)
    assert root.findtext("url/url") == "https://xml.example/?a=1&b=%3C2%3E"
    assert root.findtext("title") == '<script>alert("x")</script> & \'co\''
    assert "<script>" not in r.text


def test_shorturl_simple_and_urlencoded_post(ys):
    r = api(ys, method="POST", action="shorturl", format="simple",
            url="https://post.example/form")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text.startswith("http") and "\n" not in r.text
    assert ys.get("/" + code_of(r.text)).headers["Location"] == "https://post.example/form"


def test_sharex_multipart_post(ys):
    n = total_links(ys)
    r = api(ys, method="POST", files=True, action="shorturl", format="simple",
            url="https://sharex.example/image.png")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    short = r.text
    assert short.startswith("http://") and "/" in short
    red = ys.get("/" + code_of(short))
    assert red.status_code == 302 and red.headers["Location"] == "https://sharex.example/image.png"
    assert total_links(ys) == n + 1


def test_head_never_creates(ys):
    n = total_links(ys)
    r = api(ys, method="HEAD", action="shorturl", format="json", url="https://head.example/")
    assert r.status_code == 405
    assert total_links(ys) == n


# ---- expand, url-stats -------------------------------------------------------

def test_expand_every_format(ys):
    _, c = jcall(ys, action="shorturl", url="https://expand.example/x", keyword="exp1",
                 title="Exp")
    for shorturl in ("exp1", c["shorturl"]):
        r, b = jcall(ys, action="expand", shorturl=shorturl)
        assert r.status_code == 200
        assert b == {"keyword": "exp1", "shorturl": c["shorturl"],
                     "longurl": "https://expand.example/x", "title": "Exp",
                     "message": "success", "statusCode": "200"}
        assert list(b) == ["keyword", "shorturl", "longurl", "title", "message", "statusCode"]
    root = xml_of(api(ys, action="expand", shorturl="exp1", format="xml"))
    assert root.findtext("longurl") == "https://expand.example/x"
    r = api(ys, action="expand", shorturl="exp1", format="simple")
    assert r.status_code == 200 and r.text == "https://expand.example/x"


def test_expand_not_found(ys):
    r, b = jcall(ys, action="expand", shorturl="nosuchcode")
    assert r.status_code == 404
    assert b == {"keyword": "nosuchcode", "message": "Error: short URL not found",
                 "errorCode": "404"}
    r = api(ys, action="expand", shorturl="nosuchcode", format="simple")
    assert r.status_code == 404 and r.text == "not found"
    root = xml_of(api(ys, action="expand", shorturl="no<such>", format="xml"))
    assert root.findtext("keyword") == "nosuch"  # sanitized as a keyword, never reflected raw


def test_url_stats_counts_clicks(ys):
    _, c = jcall(ys, action="shorturl", url="https://stats.example/x", keyword="st1")
    for _ in range(3):
        assert ys.get("/st1").status_code == 302
    wait_flush()
    r, b = jcall(ys, action="url-stats", shorturl="st1")
    assert r.status_code == 200
    assert list(b) == ["statusCode", "message", "link"]
    assert b["statusCode"] == "200" and b["message"] == "success"
    link = b["link"]
    assert list(link) == ["shorturl", "url", "title", "timestamp", "ip", "clicks"]
    assert link["shorturl"] == c["shorturl"] and link["url"] == "https://stats.example/x"
    assert link["clicks"] == 3
    root = xml_of(api(ys, action="url-stats", shorturl="st1"))
    assert root.findtext("link/clicks") == "3"
    r = api(ys, action="url-stats", shorturl="st1", format="simple")
    assert r.text == "Need either XML or JSON format for stats"
    r, b = jcall(ys, action="url-stats", shorturl="nope404")
    assert r.status_code == 404
    assert b == {"statusCode": "404", "message": "Error: short URL not found"}


# ---- stats, db-stats, version, unknown -----------------------------------------

def test_stats_filters(ys):
    srv = Server(env={"SHORTY_YOURLS_USERNAME": USER, "SHORTY_YOURLS_PASSWORD": PASSWORD})
    srv.start()
    try:
        for i in range(5):
            jcall(srv, action="shorturl", url=f"https://s{i}.example/", keyword=f"s{i}")
            time.sleep(1.05 if i == 3 else 0)  # s4 is the newest by creation second
        for i in range(5):
            for _ in range(i):
                srv.get(f"/s{i}")
        wait_flush()
        r, b = jcall(srv, action="stats", filter="top", limit=3)
        assert r.status_code == 200
        assert list(b) == ["links", "stats", "statusCode", "message"]
        assert list(b["links"]) == ["link_1", "link_2", "link_3"]
        assert [l["clicks"] for l in b["links"].values()] == [4, 3, 2]
        assert b["stats"] == {"total_links": 5, "total_clicks": 10}
        assert b["statusCode"] == "200" and b["message"] == "success"
        _, b = jcall(srv, action="stats", filter="bottom", limit=2)
        assert [l["clicks"] for l in b["links"].values()] == [0, 1]
        _, b = jcall(srv, action="stats", filter="last", limit=1)
        assert b["links"]["link_1"]["url"] == "https://s4.example/"
        _, b = jcall(srv, action="stats", filter="top", limit=2, start=1)
        assert [l["clicks"] for l in b["links"].values()] == [3, 2]
        _, b = jcall(srv, action="stats", filter="rand", limit=3)
        urls = [l["url"] for l in b["links"].values()]
        assert len(urls) == 3 and len(set(urls)) == 3
        _, b = jcall(srv, action="stats", filter="rand", limit=50)
        assert len(b["links"]) == 5
        # no limit: YOURLS's intval('') is 0, so no links
        _, b = jcall(srv, action="stats")
        assert list(b) == ["stats", "statusCode", "message"]
        root = xml_of(api(srv, action="stats", filter="top", limit=1))
        assert root.findtext("links/link_1/clicks") == "4"
        assert root.findtext("stats/total_links") == "5"
        r, b = jcall(srv, action="db-stats")
        assert r.status_code == 200
        assert b == {"db-stats": {"total_links": 5, "total_clicks": 10}, "statusCode": "200",
                     "message": "success"}
        root = xml_of(api(srv, action="db-stats"))
        assert root.findtext("db-stats/total_clicks") == "10"
    finally:
        srv.close()


def test_version(ys):
    r, b = jcall(ys, action="version")
    assert r.status_code == 200 and b == {"version": "1.10.2"}
    _, b = jcall(ys, action="version", db="1")
    assert list(b) == ["version", "db_version"] and b["db_version"].isdigit()
    r = api(ys, action="version", format="simple")
    assert r.text == "1.10.2"
    assert xml_of(api(ys, action="version")).findtext("version") == "1.10.2"


@pytest.mark.parametrize("action", [None, "", "delete", "SHORTURL"])
def test_unknown_action(ys, action):
    r, b = jcall(ys, action=action)
    assert r.status_code == 400
    assert b == {"errorCode": "400", "message": 'Unknown or missing "action" parameter'}
    assert list(b) == ["errorCode", "message"]
    r = api(ys, action=action, format="simple")
    assert r.status_code == 400 and r.text == 'Unknown or missing "action" parameter'
    root = xml_of(api(ys, action=action))
    assert root.findtext("errorCode") == "400"


def test_jsonp_is_plain_json(ys):
    for cb in ("alert(document.domain)//", "cb"):
        r = api(ys, action="version", format="jsonp", callback=cb, jsonp=cb)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.text.startswith("{") and "alert" not in r.text and "cb" not in r.text
        assert r.json() == {"version": "1.10.2"}


# ---- authentication ------------------------------------------------------------

def signed(ts, order="ts+token", hash_name="sha256", token=TOKEN):
    msg = (str(ts) + token) if order == "ts+token" else (token + str(ts))
    return hashlib.new(hash_name, msg.encode()).hexdigest()


def assert_denied(r, fmt="json", message="Please log in"):
    assert r.status_code == 403, (r.status_code, r.text)
    if fmt == "json":
        assert r.json() == {"message": message, "errorCode": "403"}
    elif fmt == "xml":
        root = xml_of(r)
        assert root.findtext("message") == message and root.findtext("errorCode") == "403"
    else:
        assert r.text == message


@pytest.mark.parametrize("creds", [
    {"signature": None},                               # nothing
    {"signature": ""},                                 # empty
    {"signature": "wrong"},
    {"signature": "0e1"},                              # CVE-2019-14537
    {"signature": "0"},
    {"signature": "0e462097431906509019562988736854"},
    {"signature": "0e1", "timestamp": "now", "hash": "sha256"},
    {"signature": "0" * 64, "timestamp": "now", "hash": "sha256"},
    {"signature": "", "timestamp": "now", "hash": "sha256"},
    {"signature": "sig", "timestamp": "", "hash": "sha256"},
    {"signature": "shorty_" + "A" * 43},
    {"signature": None, "username": USER, "password": ""},
    {"signature": None, "username": "", "password": PASSWORD},
])
def test_bad_auth_is_refused_and_stores_nothing(ys, creds):
    creds = dict(creds)
    if creds.get("timestamp") == "now":
        creds["timestamp"] = str(int(time.time()))
    # YOURLS's words: "Invalid username or password" once either was sent
    msg = "Invalid username or password" if "username" in creds else "Please log in"
    n = total_links(ys)
    for action in ("shorturl", "expand", "version", "db-stats", "stats", "url-stats", "bogus"):
        r = api(ys, action=action, format="json", url="https://denied.example/", **creds)
        assert_denied(r, message=msg)
    assert_denied(api(ys, action="shorturl", url="https://denied.example/", **creds), "xml",
                  message=msg)
    assert_denied(api(ys, action="shorturl", format="simple", url="https://denied.example/",
                      **creds), "simple", message=msg)
    assert total_links(ys) == n


def test_wrong_username_password(ys):
    for user, pw in ((USER, "nope"), ("nobody", PASSWORD), (USER, PASSWORD + " ")):
        r = api(ys, action="version", format="json", signature=None, username=user, password=pw)
        assert_denied(r, message="Invalid username or password")


def test_username_password(ys):
    r, b = jcall(ys, action="shorturl", url="https://userpass.example/", signature=None,
                 username=USER, password=PASSWORD)
    assert r.status_code == 200 and b["status"] == "success"


def test_static_token_signature(ys):
    r, b = jcall(ys, action="version", signature=TOKEN)
    assert r.status_code == 200
    assert_denied(api(ys, action="version", format="json", signature=TOKEN[:-1]))
    assert_denied(api(ys, action="version", format="json", signature=TOKEN.upper() + "0"))


@pytest.mark.parametrize("hash_name", ["sha256", "sha512"])
@pytest.mark.parametrize("order", ["ts+token", "token+ts"])
def test_timed_signature(ys, hash_name, order):
    now = int(time.time())
    for ts in (now, now - 43000, now + 43000):
        r, b = jcall(ys, action="version", signature=signed(ts, order, hash_name),
                     timestamp=str(ts), hash=hash_name)
        assert r.status_code == 200, (ts, r.text)
    r, b = jcall(ys, action="shorturl", url=f"https://timed.example/{hash_name}/{order}",
                 signature=signed(now, order, hash_name), timestamp=str(now), hash=hash_name)
    assert r.status_code == 200 and b["status"] == "success"


def test_timed_signature_refusals(ys):
    now = int(time.time())
    n = total_links(ys)

    def call(**kw):
        return api(ys, action="shorturl", format="json", url="https://timed-no.example/", **kw)

    # expired / too far ahead
    for ts in (now - 43300, now + 43300, 0, 1):
        assert_denied(call(signature=signed(ts), timestamp=str(ts), hash="sha256"))
    # md5 (YOURLS's default when hash is missing) is refused, with the reason
    md5 = hashlib.md5((str(now) + TOKEN).encode()).hexdigest()
    for kw in ({"hash": "md5"}, {}):
        r = call(signature=md5, timestamp=str(now), **kw)
        assert r.status_code == 403 and "md5" in r.json()["message"]
    r = call(signature=signed(now, hash_name="sha384"), timestamp=str(now), hash="sha384")
    assert r.status_code == 403 and "sha384" in r.json()["message"]
    r = call(signature=signed(now, hash_name="sha1"), timestamp=str(now), hash="sha1")
    assert r.status_code == 403
    # a signature for another timestamp, another token, or tampered
    assert_denied(call(signature=signed(now - 1), timestamp=str(now), hash="sha256"))
    assert_denied(call(signature=signed(now, token="0" * 32), timestamp=str(now), hash="sha256"))
    assert_denied(call(signature=signed(now)[:-1] + "x", timestamp=str(now), hash="sha256"))
    assert_denied(call(signature=signed(now) + "00", timestamp=str(now), hash="sha256"))
    assert_denied(call(signature=signed(now), timestamp=f"{now}.0", hash="sha256"))
    assert_denied(call(signature=signed(now), timestamp=f" {now}", hash="sha256"))
    # the API key is not a timed-signature token
    assert_denied(call(signature=ys.admin_key, timestamp=str(now), hash="sha256"))
    assert total_links(ys) == n


def test_no_credentials_configured_means_keys_only(tmp_path):
    srv = Server(directory=tmp_path)
    srv.start()
    try:
        token = hashlib.sha256(b"shorty-yourls-token\n\n").hexdigest()[:32]
        now = int(time.time())
        assert_denied(api(srv, action="version", format="json", signature=None, username="",
                          password=""), message="Invalid username or password")
        assert_denied(api(srv, action="version", format="json", signature=None,
                          username="admin", password="admin"),
                      message="Invalid username or password")
        assert_denied(api(srv, action="version", format="json", signature=token))
        assert_denied(api(srv, action="version", format="json", timestamp=str(now),
                          hash="sha256", signature=signed(now, token=token)))
        assert jcall(srv, action="version")[0].status_code == 200
    finally:
        srv.close()


def test_key_roles(ys):
    ro = ys.key("read-only", "yourls-ro")
    n = total_links(ys)
    r, b = jcall(ys, action="shorturl", url="https://ro.example/", signature=ro)
    assert r.status_code == 403 and b["errorCode"] == "403"
    assert total_links(ys) == n
    jcall(ys, action="shorturl", url="https://ro.example/readable", keyword="roread")
    r, b = jcall(ys, action="expand", shorturl="roread", signature=ro)
    assert r.status_code == 200 and b["longurl"] == "https://ro.example/readable"

    author = ys.key("author", "yourls-author")
    r, b = jcall(ys, action="shorturl", url="https://author.example/mine", keyword="authx",
                 signature=author)
    assert r.status_code == 200
    assert jcall(ys, action="expand", shorturl="authx", signature=author)[0].status_code == 200
    # an author sees only its own links
    assert jcall(ys, action="expand", shorturl="roread", signature=author)[0].status_code == 404
    _, b = jcall(ys, action="db-stats", signature=author)
    assert b["db-stats"]["total_links"] == 1
    _, b = jcall(ys, action="stats", signature=author, limit=10, filter="last")
    assert [l["url"] for l in b["links"].values()] == ["https://author.example/mine"]
    # the admin sees it
    assert jcall(ys, action="expand", shorturl="authx")[0].status_code == 200
