"""Black-box tests of the `shorty` command line (SPEC §4): every command,
its output and its exit status (0 done, 1 failed, 2 usage or invalid input),
against a real SQLite store in a temporary directory."""
import csv
import io
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import code_of

SHORT = re.compile(r"^http://localhost:8000/([0-9A-Za-z]{6})\n$")


# ---- help, version, usage errors -------------------------------------------

def test_version(shorty):
    out = shorty.ok("--version")
    assert re.fullmatch(r"shorty \d+\.\d+\.\d+\n", out)


def test_help_lists_every_command_and_option(shorty):
    out = shorty.ok("--help")
    for cmd in ("serve", "add", "resolve", "info", "list", "delete", "import", "export",
                "key create", "key list", "key revoke", "migrate"):
        assert f"  {cmd} " in out
    for opt in ("--db", "--base-url", "--listen", "--threads", "--code-length",
                "--log-level", "--max-url-length", "--check-libs", "--version"):
        assert opt in out


@pytest.mark.parametrize("cmd", ["serve", "add", "resolve", "info", "list", "delete",
                                 "import", "export", "key create", "key list",
                                 "key revoke", "migrate"])
def test_command_help(shorty, cmd):
    out = shorty.ok(*cmd.split(), "--help")
    assert out.startswith(f"usage: shorty {cmd}")


def test_key_group_help(shorty):
    out = shorty.ok("key", "--help")
    assert "key create" in out and "key revoke" in out


@pytest.mark.parametrize("args", [
    [],                          # no command
    ["frobnicate"],              # unknown command
    ["add"],                     # missing argument
    ["add", "https://a.example/", "https://b.example/"],  # too many
    ["resolve"],
    ["list", "--bogus"],         # unknown option
    ["list", "--limit"],         # option without its value
    ["list", "--limit", "0"],
    ["list", "--limit", "ten"],
    ["key"],                     # group without subcommand
    ["key", "explode"],
    ["-x"],
    ["--threads", "many", "list"],  # bad global value
    ["add", "https://a.example/", "--redirect", "303"],
    ["add", "https://a.example/", "--max-visits", "0"],
    ["add", "https://a.example/", "--expires", "soonish"],
    ["add", "https://a.example/", "--expires", "2000-01-01"],
    ["key", "create", "--role", "god"],
    ["key", "revoke", "abc"],
    ["export", "--format", "xml"],
])
def test_usage_errors_exit_2(shorty, args):
    shorty.ok("migrate")
    shorty.fails(2, *args)
    assert shorty.ok("list") == ""


def test_bad_environment_exit_2(shorty):
    line = shorty.fails(2, "list", env={"SHORTY_CODE_STRATEGY": "dice"})
    assert "SHORTY_CODE_STRATEGY" in line


# ---- add / resolve: the "Done when" checks ---------------------------------

def test_add_resolve_and_dedupe(shorty):
    out = shorty.ok("add", "https://Example.COM:443/a/../b")
    m = SHORT.match(out)
    assert m, out
    assert shorty.ok("resolve", m.group(1)) == "https://example.com/b\n"
    # the same URL again, in any spelling: the same short URL
    assert shorty.ok("add", "https://Example.COM:443/a/../b") == out
    assert shorty.ok("add", "https://example.com/b") == out
    # --no-dedupe makes a new one
    other = shorty.ok("add", "https://example.com/b", "--no-dedupe")
    assert SHORT.match(other) and other != out
    assert shorty.ok("list").count("\n") == 2


def test_resolve_counts_no_visit_and_unknown_is_1(shorty):
    code = code_of(shorty.ok("add", "https://a.example/x"))
    for _ in range(3):
        shorty.ok("resolve", code)
    info = json.loads(shorty.ok("info", code, "--json"))
    assert info["visitsSummary"]["total"] == 0
    assert "no link has the code nope" in shorty.fails(1, "resolve", "nope")
    shorty.fails(1, "resolve", "../etc")


def test_base_url_flag_env_default(shorty):
    shorty.ok("migrate")
    assert shorty.ok("add", "https://a.example/").startswith("http://localhost:8000/")
    env = {"SHORTY_BASE_URL": "https://env.example"}
    assert shorty.ok("add", "https://b.example/", env=env).startswith("https://env.example/")
    # the flag wins over the environment, before or after the command
    out = shorty.ok("--base-url", "https://flag.example", "add", "https://c.example/", env=env)
    assert out.startswith("https://flag.example/")
    out = shorty.ok("add", "https://d.example/", "--base-url=https://late.example", env=env)
    assert out.startswith("https://late.example/")


def test_db_flag_and_bare_path(shorty):
    shorty.ok("--db", str(shorty.dir / "other.db"), "add", "https://a.example/")
    assert (shorty.dir / "other.db").exists()
    assert shorty.ok("list", "--db", f"sqlite:{shorty.dir / 'other.db'}").count("\n") == 1
    assert not (shorty.dir / "shorty.db").exists()


def test_code_length_option(shorty):
    out = shorty.ok("--code-length", "8", "add", "https://a.example/")
    assert re.fullmatch(r"http://localhost:8000/[0-9A-Za-z]{8}\n", out)


def test_thousand_adds_distinct_unordered_codes(shorty):
    """1,000 adds give 1,000 distinct codes whose order says nothing about
    the order of creation (counter strategy: a keyed permutation)."""
    shorty.ok("migrate")
    env = {"SHORTY_SYNCHRONOUS": "off"}  # the test is about codes, not fsync

    def add(i):
        return shorty.ok("add", f"https://example.com/item/{i}", env=env)

    with ThreadPoolExecutor(max_workers=4) as ex:
        outs = list(ex.map(add, range(1000)))
    assert all(SHORT.match(o) for o in outs)
    assert len(set(outs)) == 1000
    # creation order = the store's order, oldest first (list is newest first)
    listed = [line.split("\t")[0] for line in shorty.ok("list").splitlines()]
    assert len(listed) == 1000
    created = list(reversed(listed))
    ascending = sum(1 for a, b in zip(created, created[1:]) if a < b)
    ratio = ascending / (len(created) - 1)
    print(f"ascending adjacent pairs in creation order: {ratio:.1%}")
    assert 0.30 <= ratio <= 0.70, ratio


# ---- rejected URLs (research/reliability-security.md §5-A) ------------------

REJECTED = [
    "javascript:alert(document.domain)",                       # A1
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",                                     # A2
    "  javascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",  # A3
    "vbscript:msgbox(1)",                                      # A4
    "file:///etc/passwd",
    "blob:https://x/uuid",
    "ftp://x/",
    "mailto:a@b",
    "https://example.com/a\r\nSet-Cookie: s=1",                # A5
    "//evil.example/x",                                        # A8
    "/\\evil.example",
    "evil.example",
    "http:\\\\evil.example\\",                                 # A9
    "https:/\\evil.example",
    "https://paypal.com@evil.example/",                        # A10
    "https://user:pass@example.com/",
    "http://f:b/c",                                            # A11
    "http://f: /c",
    "http://f:999999/c",
    "http://exa mple.com/",
    "http://[::1",
    "http://ho%00st/",
    "https://example.com/" + "a" * 8200,                       # A14
    "http://localhost:8000/abc",                               # A15: ourselves
    b"https://example.com/\xc3\x28",                           # A17
    b"https://example.com/\xc0\xaf",
    "",                                                        # A18
    "   ",
    "http://example.com:65536/",                               # A20
]


@pytest.mark.parametrize("url", REJECTED, ids=range(len(REJECTED)))
def test_rejected_urls_exit_2_store_nothing(shorty, url):
    shorty.ok("migrate")
    line = shorty.fails(2, "add", url)
    assert len(line) < 400
    assert shorty.ok("list") == ""


def test_rejected_reason_is_said(shorty):
    assert shorty.fails(2, "add", "javascript:alert(1)") == \
        "shorty: only http and https URLs are allowed"


def test_blocklisted_host_exit_2(shorty):
    bl = shorty.write("blocklist.txt", "evil.example\n")
    shorty.fails(2, "--blocklist-file", str(bl), "add", "https://www.evil.example/x")
    shorty.ok("--blocklist-file", str(bl), "add", "https://good.example/x")


def test_nul_in_url_rejected_via_json_import(shorty):
    f = shorty.write("nul.json", '[{"longUrl": "https://example.com/\\u0000evil"}]')
    line = shorty.fails(2, "import", str(f))
    assert line.startswith("shorty: item 1: ") and "NUL" in line
    assert line.endswith("nothing was imported")
    assert shorty.ok("list") == ""


def test_accepted_tricky_urls(shorty):
    # A6: percent-encoded CR LF stays encoded; A19: non-ASCII encoded
    code = code_of(shorty.ok("add", "https://example.com/a%0d%0aSet-Cookie:%20s=1"))
    assert shorty.ok("resolve", code) == "https://example.com/a%0D%0ASet-Cookie:%20s=1\n"
    code = code_of(shorty.ok("add", "https://example.com/ü?q=ü#ü"))
    assert shorty.ok("resolve", code) == "https://example.com/%C3%BC?q=%C3%BC#%C3%BC\n"
    code = code_of(shorty.ok("add", "https://раураl.com/"))
    assert shorty.ok("resolve", code).startswith("https://xn--")


# ---- custom codes -----------------------------------------------------------

def test_custom_code_and_taken(shorty):
    assert shorty.ok("add", "https://a.example/", "--code", "my-link") == \
        "http://localhost:8000/my-link\n"
    line = shorty.fails(1, "add", "https://b.example/", "--code", "my-link")
    assert line == "shorty: the code my-link is already taken; choose another"
    assert shorty.ok("resolve", "my-link") == "https://a.example/\n"


@pytest.mark.parametrize("code", ["../admin", "a/b", "a b", "a?b", "x" * 65, "pаypal",
                                  "' OR '1'='1", "api", "health", "robots.txt"])
def test_bad_or_reserved_custom_code_exit_2(shorty, code):
    shorty.ok("migrate")
    shorty.fails(2, "add", "https://a.example/", "--code", code)
    assert shorty.ok("list") == ""


# ---- info, list, delete -----------------------------------------------------

def test_info_plain_and_json(shorty):
    shorty.ok("add", "https://a.example/x", "--code", "c1", "--title", "Hello, world",
              "--tag", "news", "--tag", "tech", "--max-visits", "5", "--redirect", "301",
              "--expires", "2099-01-02T03:04:05Z")
    out = shorty.ok("info", "c1")
    fields = dict(re.match(r"^([a-z ]+):\s+(.*)$", line).groups()
                  for line in out.splitlines())
    assert fields["code"] == "c1"
    assert fields["short url"] == "http://localhost:8000/c1"
    assert fields["url"] == "https://a.example/x"
    assert fields["expires"] == "2099-01-02T03:04:05+00:00"
    assert fields["max visits"] == "5"
    assert fields["visits"].startswith("0")
    assert fields["redirect status"] == "301"
    assert fields["title"] == "Hello, world"
    assert fields["tags"] == "news tech"
    assert re.match(r"\d{4}-\d\d-\d\dT", fields["created"])
    # aligned: every value starts in the same column
    cols = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in out.splitlines()}
    assert len(cols) == 1
    j = json.loads(shorty.ok("info", "c1", "--json"))
    assert j["shortCode"] == "c1" and j["longUrl"] == "https://a.example/x"
    assert j["shortUrl"] == "http://localhost:8000/c1"
    assert j["meta"]["maxVisits"] == 5 and j["redirectStatus"] == 301
    assert sorted(j["tags"]) == ["news", "tech"] and j["title"] == "Hello, world"
    shorty.fails(1, "info", "nope")


def test_add_json(shorty):
    j = json.loads(shorty.ok("add", "https://a.example/", "--json", "--tag", "x"))
    assert j["longUrl"] == "https://a.example/" and j["tags"] == ["x"]
    assert j["shortUrl"].endswith("/" + j["shortCode"])


def test_list_plain_json_limit_tag(shorty):
    codes = []
    for i in range(5):
        codes.append(code_of(shorty.ok("add", f"https://a.example/{i}",
                                       *(["--tag", "even"] if i % 2 == 0 else []))))
    lines = shorty.ok("list").splitlines()
    assert len(lines) == 5
    for line in lines:
        code, short, url = line.split("\t")
        assert short == f"http://localhost:8000/{code}" and url.startswith("https://a.example/")
    # newest first
    assert [line.split("\t")[0] for line in lines] == list(reversed(codes))
    assert len(shorty.ok("list", "--limit", "2").splitlines()) == 2
    even = [line.split("\t")[0] for line in shorty.ok("list", "--tag", "even").splitlines()]
    assert sorted(even) == sorted([codes[0], codes[2], codes[4]])
    arr = json.loads(shorty.ok("list", "--json"))
    assert isinstance(arr, list) and len(arr) == 5
    assert [o["shortCode"] for o in arr] == list(reversed(codes))
    assert json.loads(shorty.ok("list", "--json", "--limit", "1"))[0]["shortCode"] == codes[-1]


def test_list_empty_json(shorty):
    shorty.ok("migrate")
    assert json.loads(shorty.ok("list", "--json")) == []
    assert shorty.ok("list") == ""


def test_reads_need_a_store(shorty):
    for args in (["list"], ["resolve", "abc"], ["info", "abc"], ["export"], ["key", "list"],
                 ["delete", "abc"]):
        line = shorty.fails(1, *args)
        assert "no store at" in line and "shorty migrate" in line
    assert not (shorty.dir / "shorty.db").exists()


def test_delete(shorty):
    code = code_of(shorty.ok("add", "https://a.example/"))
    assert shorty.ok("delete", code) == ""
    shorty.fails(1, "resolve", code)
    shorty.fails(1, "delete", code)
    assert shorty.ok("list") == ""


def test_migrate(shorty):
    assert re.fullmatch(r"schema at version \d+\n", shorty.ok("migrate"))
    assert (shorty.dir / "shorty.db").exists()
    assert re.fullmatch(r"schema at version \d+\n", shorty.ok("migrate"))


def test_default_db_is_data_dir(shorty):
    shorty.ok("add", "https://a.example/", env={"SHORTY_DB": None})
    assert (shorty.dir / "data" / "shorty.db").exists()
    shorty.ok("add", "https://a.example/", env={"SHORTY_DB": "./data/x.db"})
    assert (shorty.dir / "data" / "x.db").exists()


# ---- keys -------------------------------------------------------------------

def test_keys(shorty):
    key = shorty.ok("key", "create", "--name", "ci", "--role", "author")
    assert re.fullmatch(r"shorty_[A-Za-z0-9_-]{43}\n", key), key
    key2 = shorty.ok("key", "create")
    assert key2 != key
    out = shorty.ok("key", "list")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "NAME", "ROLE", "PREFIX"]
    assert len(lines) == 3
    assert "ci" in lines[1] and "author" in lines[1] and "admin" in lines[2]
    assert key.strip() not in out  # never the key itself
    first_id = lines[1].split()[0]
    assert shorty.ok("key", "revoke", first_id) == ""
    assert shorty.ok("key", "list").splitlines()[1].split()[-1] != "-"
    shorty.fails(1, "key", "revoke", "999")


# ---- import / export --------------------------------------------------------

HEADER = "code,url,title,tags,created_at,expires_at,max_visits,redirect_status,visits"


def test_export_csv_shape(shorty):
    shorty.ok("add", "https://a.example/", "--code", "a1", "--title", 'Say "hi", now',
              "--tag", "x", "--tag", "y", "--max-visits", "3")
    out = shorty.ok("export")
    assert out.splitlines()[0] == HEADER + ",domain"
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["code"] == "a1" and rows[0]["title"] == 'Say "hi", now'
    assert rows[0]["tags"] == "x y" and rows[0]["max_visits"] == "3"
    assert rows[0]["expires_at"] == "" and rows[0]["visits"] == "0"
    assert rows[0]["redirect_status"] == "302"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$", rows[0]["created_at"])


def test_import_keeps_codes_and_created(shorty, new_store):
    f = shorty.write("in.csv",
                     HEADER + "\n"
                     "kept,https://a.example/,Title A,t1 t2,2020-05-06T07:08:09Z,"
                     "2099-01-01T00:00:00Z,7,301,42\n"
                     ",https://b.example/,,,,,,,\n")
    assert shorty.ok("import", str(f)) == "imported 2 links\n"
    j = json.loads(shorty.ok("info", "kept", "--json"))
    assert j["longUrl"] == "https://a.example/" and j["title"] == "Title A"
    assert j["dateCreated"] == "2020-05-06T07:08:09+00:00"
    assert j["meta"]["validUntil"] == "2099-01-01T00:00:00+00:00"
    assert j["meta"]["maxVisits"] == 7 and j["redirectStatus"] == 301
    assert sorted(j["tags"]) == ["t1", "t2"]
    codes = [line.split("\t")[0] for line in shorty.ok("list").splitlines()]
    assert len(codes) == 2 and "kept" in codes
    other = [c for c in codes if c != "kept"][0]
    assert re.fullmatch(r"[0-9A-Za-z]{6}", other)
    # a generated code afterwards never collides with the imported ones
    for i in range(20):
        assert code_of(shorty.ok("add", f"https://c.example/{i}")) not in codes


def test_import_one_bad_row_stores_nothing(shorty):
    rows = [HEADER] + [f",https://ok.example/{i},,,,,,," for i in range(10)]
    rows[7] = ",javascript:alert(1),,,,,,,"  # line 8: the header is line 1
    f = shorty.write("bad.csv", "\n".join(rows) + "\n")
    line = shorty.fails(2, "import", str(f))
    assert line == ("shorty: line 8: only http and https URLs are allowed; "
                    "nothing was imported")
    assert shorty.ok("list") == ""


def test_import_taken_code_is_1_and_names_row(shorty):
    shorty.ok("add", "https://x.example/", "--code", "dup")
    f = shorty.write("dup.csv", "code,url\nfresh,https://a.example/\ndup,https://b.example/\n")
    line = shorty.fails(1, "import", str(f))
    assert line.startswith("shorty: line 3: the code dup is already taken")
    assert "nothing was imported" in line
    shorty.fails(1, "resolve", "fresh")
    # a duplicate inside the file, too
    f = shorty.write("dup2.csv", "code,url\nsame,https://a.example/\nsame,https://b.example/\n")
    assert shorty.fails(1, "import", str(f)).startswith("shorty: line 3: ")


@pytest.mark.parametrize("content,where", [
    ("code,url\nx,\"https://a.example/\n", "line 2"),                 # unclosed quote
    ("code,url\nx,\"https://a.example/\"junk\n", "line 2"),           # text after quote
    ("code,url\nx,https://a.\"example/\n", "line 2"),                 # stray quote
    ("code,url\nx,https://a.example/,extra\n", "line 2"),             # field count
    ("code,title\nx,y\n", "line 1"),                                  # no url column
    ("", "line 1"),                                                   # empty
    ("url,url\nhttps://a.example/,https://b.example/\n", "line 1"),   # column twice
    ("url,created_at\nhttps://a.example/,yesterday\n", "line 2"),
    ("url,max_visits\nhttps://a.example/,-3\n", "line 2"),
    ("url,redirect_status\nhttps://a.example/,303\n", "line 2"),
    ("url,tags\nhttps://a.example/,Bad!Tag\n", "line 2"),
    ("url,title\nhttps://a.example/,a\x00b\n", "line 2"),             # NUL byte
])
def test_import_bad_csv_exit_2(shorty, content, where):
    shorty.ok("migrate")
    f = shorty.write("bad.csv", content)
    line = shorty.fails(2, "import", str(f))
    assert line.startswith(f"shorty: {where}: ") and line.endswith("nothing was imported")
    assert shorty.ok("list") == ""


def test_import_field_over_64k(shorty):
    f = shorty.write("big.csv", "url,title\nhttps://a.example/," + "x" * 70000 + "\n")
    line = shorty.fails(2, "import", str(f))
    assert "line 2" in line and "64 KiB" in line


def test_import_csv_dialect(shorty):
    # BOM, CRLF, quoted commas, doubled quotes, a multi-line cell (in a
    # column shorty ignores), blank lines, Shlink's header spellings
    data = ("\ufeffShort Code,Long URL,Title,Notes\r\n"
            "q1,\"https://a.example/?a=1,2\",\"He said \"\"hi\"\"\",\"line one\r\nline two\"\r\n"
            "\r\n"
            "q2,https://b.example/,,plain\n")
    f = shorty.write("d.csv", data)
    assert shorty.ok("import", str(f)) == "imported 2 links\n"
    assert shorty.ok("resolve", "q1") == "https://a.example/?a=1,2\n"
    assert json.loads(shorty.ok("info", "q1", "--json"))["title"] == 'He said "hi"'
    assert shorty.ok("resolve", "q2") == "https://b.example/\n"
    # an error after a multi-line record names the right physical line
    f = shorty.write("e.csv", "url,notes\nhttps://a.example/,\"a\nb\nc\"\nftp://x/,\n")
    assert shorty.fails(2, "import", str(f)).startswith("shorty: line 5: ")


def test_import_stdin_and_format(shorty):
    assert shorty.ok("import", "-", input="url\nhttps://a.example/\n") == "imported 1 links\n"
    data = json.dumps([{"longUrl": "https://b.example/", "customSlug": "bb"}])
    assert shorty.ok("import", "-", "--format", "json", input=data) == "imported 1 links\n"
    f = shorty.write("links.txt", "url\nhttps://c.example/\n")
    assert "--format" in shorty.fails(2, "import", str(f))
    assert shorty.ok("import", str(f), "--format", "csv") == "imported 1 links\n"
    shorty.fails(2, "import", str(shorty.dir / "missing.csv"))


def test_formula_neutralization_round_trip(shorty, new_store):
    titles = ['=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)",
              "'quoted already", "plain", "'=looks neutralized"]
    for i, t in enumerate(titles):
        shorty.ok("add", f"https://a.example/{i}", "--code", f"f{i}", "--title", t)
    shorty.ok("add", "https://a.example/tag", "--code", "-dash", "--tag", "-neg")
    out = shorty.ok("export")
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(out))}
    # in the file: a leading ' before = + - @, nothing added elsewhere
    assert rows["f0"]["title"] == "'" + titles[0]
    assert rows["f1"]["title"] == "'" + titles[1]
    assert rows["f2"]["title"] == "'-2+3"
    assert rows["f3"]["title"] == "'@SUM(1)"
    assert rows["f4"]["title"] == "'quoted already"
    assert rows["f5"]["title"] == "plain"
    assert rows["f6"]["title"] == "''=looks neutralized"
    assert rows["'-dash"]["tags"] == "'-neg"
    for r in rows.values():
        for v in r.values():
            assert not v or v[0] not in "=+-@\t\r"
    # and back: the ' is gone again
    other = new_store()
    other.write("x.csv", out)
    other.ok("import", "x.csv")
    for i, t in enumerate(titles):
        assert json.loads(other.ok("info", f"f{i}", "--json"))["title"] == t
    j = json.loads(other.ok("info", "--json", "--", "-dash"))
    assert j["tags"] == ["-neg"]


def test_export_import_json_round_trip(shorty, new_store):
    shorty.ok("add", "https://a.example/", "--code", "j1", "--title", "T", "--tag", "a",
              "--expires", "2099-01-01", "--max-visits", "9", "--redirect", "308")
    shorty.ok("add", "https://b.example/")
    out = shorty.ok("export", "--format", "json")
    arr = json.loads(out)
    assert len(arr) == 2
    other = new_store()
    other.write("x.json", out)
    assert other.ok("import", "x.json") == "imported 2 links\n"
    strip = lambda a: sorted((o["shortCode"], o["longUrl"], o["title"], o["tags"],
                              o["dateCreated"], o["meta"], o["redirectStatus"]) for o in a)
    assert strip(json.loads(other.ok("export", "--format", "json"))) == strip(arr)


@pytest.mark.parametrize("content", [
    "{not json", '{"a": 1}', "[1, 2]", '[{"title": "no url"}]',
    '[{"longUrl": "https://a.example/", "longUrl": "https://b.example/"}]',
    '[{"longUrl": "https://a.example/"}, {"longUrl": "javascript:x"}]',
    '[{"longUrl": "https://a.example/"}] trailing',
    '[{"longUrl": "https://a.example/"} {"longUrl": "https://b.example/"}]',
    '[{"longUrl": "https://a.example/", "title": "' + "x" * (1024 * 1024) + '"}]',
    '[{"longUrl": "https://a.example/"}',
], ids=["syntax", "object", "numbers", "no-url", "dup-key", "bad-url", "trailing",
        "no-comma", "item-over-1MiB", "unclosed"])
def test_import_bad_json_exit_2(shorty, content):
    shorty.ok("migrate")
    f = shorty.write("bad.json", content)
    shorty.fails(2, "import", str(f))
    assert shorty.ok("list") == ""


def test_import_too_many_rows(shorty):
    shorty.ok("migrate")
    rows = "url\n" + "https://a.example/\n" * 1_000_001
    f = shorty.write("huge.csv", rows)
    line = shorty.fails(2, "import", str(f), env={"SHORTY_SYNCHRONOUS": "off"})
    assert "1000000 rows" in line and "line 1000002" in line
    assert shorty.ok("list", "--limit", "1") == ""


def test_import_100k_rows(shorty):
    """100,000 CSV rows import in seconds (the figure is printed; see
    docs/benchmarks.md for the release build)."""
    n = 100_000
    buf = io.StringIO()
    buf.write("url,title,tags\n")
    for i in range(n):
        buf.write(f"https://example.com/page/{i}?q={i * 7},Title {i},t{i % 10} common\n")
    f = shorty.write("100k.csv", buf.getvalue())
    t0 = time.monotonic()
    assert shorty.ok("import", str(f)) == f"imported {n} links\n"
    took = time.monotonic() - t0
    print(f"imported {n} CSV rows in {took:.2f} s")
    assert took < 60
    assert len(shorty.ok("list", "--tag", "t3").splitlines()) == n // 10


def test_serve_is_wired(shorty):
    # `serve` reaches http_serve; a port that cannot be bound fails with 1
    rc, out, err = shorty.run("serve", "--listen", "256.0.0.1:99999", timeout=30)
    assert rc in (1, 2) and err.startswith("shorty: ") and len(err.splitlines()) == 1


def test_readme_configuration_table_matches_the_option_table(shorty):
    """README's configuration table lists every option of cfg_options[]
    (as `shorty --help` prints them) with its variable and default."""
    from helpers import ROOT
    readme = (ROOT / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `--")]
    # a long option's help goes on the next line, indented: join them
    help_out = re.sub(r"\n {27}", " ", shorty.ok("--help"))
    opts = re.findall(r"^  --([a-z0-9-]+) .*\[\$(SHORTY_[A-Z0-9_]+), default (.*)\]$", help_out,
                      re.M)
    assert len(opts) >= 20
    for name, env, default in opts:
        rows = [r for r in table if r.startswith(f"| `--{name} ") or
                r.startswith(f"| `--{name}`")]
        assert rows, f"--{name} is missing from README's configuration table"
        cells = [c.strip() for c in rows[0].split("|")[1:-1]]
        assert cells[1] == f"`{env}`", (name, cells)
        assert cells[2] == (f"`{default}`" if default != "unset" else "unset"), (name, cells)
    assert len(table) == len(opts), "README lists an option shorty does not have"
