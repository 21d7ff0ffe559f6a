"""Hardening round 2 (issue 12): the defects an outside attacker found, as
black-box tests of the real binary. docs/catalogue.md ("Issue 12") lists
them with the rows they cover; docs/security.md quotes them.
"""
import hashlib
import os
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from helpers import run_cli
from httpfix import BIN, Server, free_port


def as_client(ip):
    return {"X-Forwarded-For": ip}


# ---- 1. the per-address brakes ------------------------------------------------------------------

@pytest.fixture(scope="module")
def brakes(tmp_path_factory):
    """Brakes of one token a minute, X-Forwarded-For believed from
    127.0.0.1, so that one test can be hundreds of clients."""
    d = tmp_path_factory.mktemp("brakes12")
    s = Server(directory=d, env={"SHORTY_NOTFOUND_LIMIT": "1", "SHORTY_LOGIN_LIMIT": "1",
                                 "SHORTY_TRUSTED_PROXIES": "127.0.0.1",
                                 "SHORTY_YOURLS_USERNAME": "admin",
                                 "SHORTY_YOURLS_PASSWORD": "right-password"})
    s.start()
    yield s
    s.close()


def fnv_slot(ip):
    """The slot of the old, public hash (FNV-1a of the text, 4096 slots)."""
    h = 1469598103934665603
    for c in ip.encode():
        h = ((h ^ c) * 1099511628211) & (2**64 - 1)
    return (h or 1) % 4096


def colliding_addresses(n):
    """n IPv4 addresses, in pairs that shared a slot of the old hash: the
    second of a pair overwrote the first's block."""
    seen, out = {}, []
    for i in range(1, 1 << 16):
        ip = f"198.18.{i >> 8}.{i & 255}"
        slot = fnv_slot(ip)
        if slot in seen:
            out += [seen.pop(slot), ip]
            if len(out) >= n:
                return out
        else:
            seen[slot] = ip
    raise AssertionError("no collisions")


def test_brake_never_forgets_a_blocked_address(brakes):
    """Every address that was braked stays braked, however many others
    are braked after it (slots shared by chance or by design)."""
    brakes.create("https://example.com/b12", customSlug="b12")
    s = requests.Session()
    # 60 addresses in pairs that shared a slot of the old hash, 60 others;
    # all of it well within the minute a token takes to come back
    addrs = colliding_addresses(60) + [f"198.19.0.{i}" for i in range(1, 61)]
    t0 = time.monotonic()
    for ip in addrs:
        for i in range(2):  # one token: the second unknown code brakes the address
            s.get(brakes.url(f"/nx{i}"), headers=as_client(ip), allow_redirects=False)
    # now a known code: 302 would tell a braked address that the code exists
    leaked = [ip for ip in addrs
              if s.get(brakes.url("/b12"), headers=as_client(ip),
                       allow_redirects=False).status_code != 429]
    assert time.monotonic() - t0 < 55, "too slow to judge: tokens came back"
    assert leaked == [], f"{len(leaked)} braked addresses read as not braked: {leaked[:4]}"
    assert brakes.get("/b12", headers=as_client("192.0.2.200")).status_code == 302


def test_login_brake_not_bypassed_by_a_second_address(brakes):
    a, b = colliding_addresses(2)

    def login(ip, pw):
        return requests.post(brakes.url("/yourls-api.php"), headers=as_client(ip), timeout=10,
                             data={"action": "db-stats", "format": "json",
                                   "username": "admin", "password": pw}).status_code
    assert [login(a, "wrong"), login(a, "wrong")] == [403, 429]
    assert [login(b, "wrong"), login(b, "wrong")] == [403, 429]
    # a is still braked: even the right password is not checked
    assert login(a, "right-password") == 429


def test_ipv6_counts_by_its_64(brakes):
    brakes.create("https://example.com/b12v6", customSlug="b12v6")
    for i in range(2):
        brakes.get(f"/v6nx{i}", headers=as_client("2001:db8:12:34::1"))
    # another address of the same /64 is the same client, however written
    for ip in ("2001:db8:12:34::1", "2001:db8:12:34:ffff:ffff:ffff:ffff",
               "2001:DB8:12:34:abcd::9", "2001:0db8:0012:0034:0:0:0:2"):
        assert brakes.get("/b12v6", headers=as_client(ip)).status_code == 429, ip
    # the next /64 is another client
    assert brakes.get("/b12v6", headers=as_client("2001:db8:12:35::1")).status_code == 302
    # an IPv4-mapped address is its IPv4 address
    for i in range(2):
        brakes.get(f"/v4nx{i}", headers=as_client("192.0.2.77"))
    assert brakes.get("/b12v6", headers=as_client("::ffff:192.0.2.77")).status_code == 429


# ---- 5. the access log: credentials masked by their decoded name; bytes escaped -------------------

@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    d = tmp_path_factory.mktemp("log12")
    s = Server(directory=d, env={"SHORTY_ACCESS_LOG": "true", "SHORTY_YOURLS_USERNAME": "admin",
                                 "SHORTY_YOURLS_PASSWORD": "yourls-secret-pw-123"})
    s.start()
    yield s
    s.close()


def spellings(name):
    """Every way a client can write the name that the server reads as name:
    as is, upper and lower case, each letter %-encoded alone (upper and
    lower case hex), every letter %-encoded."""
    out = {name, name.upper(), name.lower(), "".join(f"%{ord(c):02X}" for c in name),
           "".join(f"%{ord(c):02x}" for c in name)}
    for i, c in enumerate(name):
        out.add(name[:i] + f"%{ord(c):02x}" + name[i + 1:])
        out.add(name[:i] + f"%{ord(c):02X}" + name[i + 1:])
    return sorted(out)


def raw_get(s, target):
    """GET with the target sent byte for byte (requests would re-encode it)."""
    return s.raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


def test_every_credential_in_every_spelling_is_masked(logged):
    k = logged.admin_key
    pw = "yourls-secret-pw-123"
    checks = []
    for name in spellings("apiKey"):
        checks.append((f"/rest/v3/short-urls/shorten?{name}={k}&longUrl=https://e.example/m"
                       "&format=txt", k))
    for name in spellings("signature"):
        checks.append((f"/yourls-api.php?action=version&format=json&{name}={k}", k))
    for name in spellings("password"):
        checks.append((f"/yourls-api.php?action=version&format=json&username=admin&{name}={pw}",
                       pw))
    for target, secret in checks:
        answer = raw_get(logged, target.encode())
        # the server reads the decoded name: each spelling authenticates
        assert answer.startswith(b"HTTP/1.1 200"), (target, answer[:80])
    time.sleep(0.3)
    log = logged.logtext()
    for target, secret in checks:
        masked = target.replace(secret, "***")
        assert masked in log, f"not in the access log: {masked}"
    for secret in (k, pw):
        assert secret not in log and secret[-12:] not in log


def test_request_target_bytes_escaped_in_the_log(logged):
    raw_get(logged, b"/caf\xe9-\xff\xfe?q=\xc3\x28&r=\xed\xa0\x80")
    raw_get(logged, "/ok-é?q=日本".encode())
    raw_get(logged, b"/c1-\xc2\x9b[31m")
    time.sleep(0.3)
    data = logged.log.read_bytes()
    data.decode("utf-8")  # every line is UTF-8, whatever the targets held
    text = data.decode()
    assert "/caf\\xe9-\\xff\\xfe?q=\\xc3(&r=\\xed\\xa0\\x80" in text
    assert "/ok-é?q=日本" in text  # UTF-8 is kept as it is
    assert "/c1-\\xc2\\x9b[31m" in text  # a C1 control is escaped like C0


# ---- 4. redirect loops: every name of the service, any scheme, any port -------------------------

LOOPS = [
    # the base URL's host, whatever the scheme and port
    "https://s.example.com/abc", "http://s.example.com/abc", "http://s.example.com:8080/abc",
    "https://S.Example.COM./abc",
    # loopback names and addresses, however written
    "http://localhost/x", "https://LOCALHOST:9/x", "http://localhost./x", "http://a.localhost/",
    "http://127.0.0.1/", "http://127.8.9.10:443/", "http://2130706433/", "http://0x7f.1/",
    "http://0177.0.0.1/", "http://127.1/", "http://0.0.0.0/", "http://0/", "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]:8000/", "http://[::]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/", "http://[::127.0.0.1]/",
]


@pytest.fixture(scope="module")
def based(tmp_path_factory):
    d = tmp_path_factory.mktemp("loops12")
    s = Server(directory=d, env={"SHORTY_BASE_URL": "https://s.example.com",
                                 "SHORTY_YOURLS_USERNAME": "admin",
                                 "SHORTY_YOURLS_PASSWORD": "right-password"})
    s.start()
    yield s
    s.close()


def test_own_names_are_loops(based):
    # the listen address (127.0.0.1:port) too, on its own and on any port
    loops = list(LOOPS)
    loops += [f"http://127.0.0.1:{based.port}/abc", f"https://[::ffff:127.0.0.1]:{based.port}/"]
    # and one of its own short links, on every front
    link = based.create("https://example.com/target", customSlug="own")
    loops.append(link["shortUrl"])
    loops.append(link["shortUrl"].replace("https://", "http://"))
    for u in loops:
        r = based.api("POST", "/short-urls", json={"longUrl": u})
        assert r.status_code == 400, (u, r.text)
        assert "points back at this service" in r.json()["detail"], u
        r = requests.post(based.url("/yourls-api.php"), timeout=10,
                          data={"action": "shorturl", "url": u, "format": "json",
                                "username": "admin", "password": "right-password"})
        # YOURLS's own answer for a loop
        assert r.status_code == 400 and r.json()["code"] == "error:noloop", (u, r.text)
    for u in ("http://127.0.0.1/", "http://s.example.com:81/"):
        p = run_cli("add", u, env=based.env(), cwd=based.dir)
        assert p.returncode == 2 and "points back at this service" in p.stderr, p.stderr
    r = based.api("GET", "/short-urls")
    assert [x["shortCode"] for x in r.json()["shortUrls"]["data"]] == ["own"]


@pytest.mark.parametrize("u", ["https://example.com/", "http://10.0.0.1/",
                               "http://169.254.169.254/", "http://sub.s.example.com/",
                               "http://localhost.example/", "http://127.0.0.1.nip.io/"])
def test_other_hosts_are_not_loops(based, u):
    assert based.api("POST", "/short-urls", json={"longUrl": u}).status_code == 200


# ---- 8. text XML cannot carry: refused at input, dropped on output ------------------------------

BAD_TEXT = ["a\ufffeb", "a\uffffb", "a\ufdd0b", "a\ufdefb", "a\U0001fffeb", "a\U0010ffffb",
            "a\x01b", "a\x0bb", "a\x1fb", "a\tb", "a\nb", "a\x7fb", "a\x85b"]


def yourls_api(s, **params):
    return requests.post(s.url("/yourls-api.php"), timeout=10,
                         data={"username": "admin", "password": "right-password", **params})


def test_titles_xml_cannot_carry_are_refused(based):
    before = based.api("GET", "/short-urls").json()["shortUrls"]["pagination"]["totalItems"]
    for i, t in enumerate(BAD_TEXT):
        r = based.api("POST", "/short-urls", json={"longUrl": f"https://e.example/{i}",
                                                   "title": t})
        assert r.status_code == 400, (t, r.text)
        assert "without control characters or noncharacters" in r.json()["detail"]
        r = based.api("POST", "/short-urls", json={"longUrl": "https://e.example/ok",
                                                   "title": "ok", "findIfExists": True})
        code = r.json()["shortCode"]
        r = based.api("PATCH", f"/short-urls/{code}", json={"title": t})
        assert r.status_code == 400, (t, r.text)
        r = yourls_api(based, action="shorturl", url=f"https://y.example/{i}", title=t,
                       format="xml")
        assert r.status_code == 400, (t, r.text)
        root = ET.fromstring(r.content)  # well-formed
        assert root.findtext("statusCode") == "400"
        assert "control characters or noncharacters" in root.findtext("message")
    after = based.api("GET", "/short-urls").json()["shortUrls"]["pagination"]["totalItems"]
    assert after == before + 1  # only the "ok" link
    # characters that are text pass: U+FFFD, a private-use character, an emoji
    r = yourls_api(based, action="shorturl", url="https://y.example/fine",
                   title="\ufffd \ue000 \U0001f600", format="xml")
    assert r.status_code == 200
    assert ET.fromstring(r.content).findtext("title") == "\ufffd \ue000 \U0001f600"


def test_every_yourls_xml_answer_is_well_formed(tmp_path):
    """A store written before the check (raw bytes in a title) still gives
    well-formed XML: what XML 1.0 cannot carry is dropped."""
    s = Server(directory=tmp_path, env={"SHORTY_YOURLS_USERNAME": "admin",
                                        "SHORTY_YOURLS_PASSWORD": "right-password"})
    s.start()
    try:
        s.create("https://example.com/old", customSlug="old", title="placeholder")
        s.stop()
        raw = "<t>&\x01\x08\x0b\x0c\x1f\ufffe\uffff\ufdd0 ok \U0001fffe"
        with sqlite3.connect(tmp_path / "shorty.db") as db:
            assert db.execute("UPDATE links SET title=? WHERE id=(SELECT link_id FROM codes "
                              "WHERE code='old')", (raw,)).rowcount == 1
        s.start()
        answers = [yourls_api(s, action=a, format="xml", **kw) for a, kw in [
            ("url-stats", {"shorturl": "old"}), ("expand", {"shorturl": "old"}),
            ("stats", {"filter": "last", "limit": "10"}), ("db-stats", {}), ("version", {}),
            ("shorturl", {"url": "https://example.com/old"}),
            ("shorturl", {"url": "javascript:alert(1)"}), ("nope", {}),
            ("url-stats", {"shorturl": "\ufffe\x01"})]]
        titles = []
        for r in answers:
            assert r.headers["Content-Type"].startswith("application/xml")
            root = ET.fromstring(r.content)  # raises when not well-formed
            titles += [e.text for e in root.iter("title")]
        assert "<t>&\ufdd0 ok \U0001fffe" in titles
    finally:
        s.close()


# ---- 2. the database file removed, replaced or read-only while the server runs ------------------

def acknowledged_are_stored(s, codes):
    """Every code answered 200 is in the file at the store's path now."""
    path = s.dir / "shorty.db"
    if not path.exists():
        return codes == []
    with sqlite3.connect(path) as db:
        have = {c for (c,) in db.execute("SELECT code FROM codes")}
    return set(codes) <= have


def create_after(s, n, tag):
    ok, statuses = [], []
    for i in range(n):
        r = s.api("POST", "/short-urls", json={"longUrl": f"https://{tag}.example/{i}",
                                               "customSlug": f"{tag}{i}"})
        statuses.append(r.status_code)
        if r.status_code == 200:
            ok.append(r.json()["shortCode"])
        else:
            assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1, r.text
    return ok, statuses


def replace_or_remove(tmp_path, how):
    db = tmp_path / "shorty.db"
    if how == "removed":
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / ("shorty.db" + suffix)).unlink(missing_ok=True)
    else:  # a copy (a restored backup, say) renamed over it
        with sqlite3.connect(db) as src, sqlite3.connect(tmp_path / "copy.db") as dst:
            src.backup(dst)
        (tmp_path / "copy.db").replace(db)


@pytest.mark.parametrize("how", ["removed", "replaced"])
def test_db_file_removed_or_replaced(tmp_path, how):
    s = Server(directory=tmp_path, threads=1)
    s.start()
    try:
        s.create("https://example.com/before", customSlug="before")
        assert s.get("/ready").status_code == 200
        replace_or_remove(tmp_path, how)
        ok, statuses = create_after(s, 4, how[:3])
        r = s.get("/ready")
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert r.json()["detail"] == ("the store does not answer or cannot be written; "
                                      "see the log")
        time.sleep(1.2)  # the worker opens the store at its path again
        if how == "removed":
            # nothing acknowledged, and not ready until the file is back
            assert statuses == [503] * 4
            assert s.get("/ready").status_code == 503
        else:
            # the write that found the change is refused; then the writer
            # writes the new file, and readers read it: ready again
            assert statuses == [503, 200, 200, 200]
            assert s.get("/ready").status_code == 200
            assert s.get("/rep2").status_code == 302
        s.stop()
        # whatever was acknowledged is in the file a restart reads
        assert acknowledged_are_stored(s, ok), (ok, statuses)
        log = s.logtext()
        assert "group commit failed: the database file" in log
        assert "was removed or replaced while shorty was running" in log
    finally:
        s.close()


def test_ready_503_when_the_store_is_read_only():
    """The database file made read-only (permissions) while the server runs:
    /ready says so, and says ready again once it is writable. Run as nobody
    when the tests run as root (root may write any file)."""
    s = Server()  # in a directory of its own under /tmp, which nobody can reach
    tmp_path = s.dir
    s.admin_key = s.key("admin", "tests")
    db = tmp_path / "shorty.db"
    env = s.env()
    drop = None
    if os.geteuid() == 0:
        for p in [tmp_path, *tmp_path.iterdir()]:
            os.chown(p, 65534, 65534)
        drop = lambda: (os.setgid(65534), os.setuid(65534))  # noqa: E731
    port = free_port()
    with open(s.log, "ab") as logf:
        proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                                cwd=tmp_path, stdout=logf, stderr=logf, preexec_fn=drop)
    try:
        url = f"http://127.0.0.1:{port}/ready"
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        assert requests.get(url, timeout=5).status_code == 200
        db.chmod(0o444)
        r = requests.get(url, timeout=5)
        assert r.status_code == 503 and "cannot be written" in r.json()["detail"]
        db.chmod(0o644)
        # ready again (a worker that found it read-only reopens within 1 s)
        deadline = time.time() + 3
        while requests.get(url, timeout=5).status_code != 200:
            assert time.time() < deadline, "not ready again"
            time.sleep(0.1)
    finally:
        proc.terminate()
        rc = proc.wait(timeout=10)
        log = s.logtext()
        s.close()
    assert rc == 0, log
    assert "cannot be written (Permission denied)" in log


# ---- extra: a shorter replay window for timestamped YOURLS signatures ---------------------------

def test_yourls_signature_ttl_shortens_the_replay_window(tmp_path):
    user, pw = "admin", "right-password"
    token = hashlib.sha256(f"shorty-yourls-token\n{user}\n{pw}".encode()).hexdigest()[:32]
    s = Server(directory=tmp_path, env={"SHORTY_YOURLS_USERNAME": user,
                                        "SHORTY_YOURLS_PASSWORD": pw,
                                        "SHORTY_YOURLS_SIGNATURE_TTL": "60"})
    s.start()
    try:
        def call(ts):
            sig = hashlib.sha256(f"{ts}{token}".encode()).hexdigest()
            return requests.get(s.url("/yourls-api.php"), timeout=10, params={
                "action": "version", "format": "json", "signature": sig,
                "timestamp": str(ts), "hash": "sha256"}).status_code
        now = int(time.time())
        assert [call(now), call(now - 50), call(now + 50)] == [200, 200, 200]
        # 12 h would accept these; 60 s does not
        assert [call(now - 70), call(now + 70), call(now - 43000)] == [403, 403, 403]
    finally:
        s.close()
    p = run_cli("serve", "--yourls-signature-ttl", "43201", env=s.env(), timeout=30)
    assert p.returncode == 2 and "yourls-signature-ttl" in p.stderr, p.stderr
