"""`shorty import` of the other shorteners' exports (issue 9 item 7): one
hand-written file per format in tests/integration/peers/, written from each
project's format (src/cli/peers.c names the source of each): codes, long
URLs, titles, tags, dates and visit counts come through; the store's totals
count the imported visits; a bad row or a broken dump imports nothing."""
import json

import pytest

from helpers import ROOT

PEERS = ROOT / "tests" / "integration" / "peers"


def links(shorty):
    got = json.loads(shorty.ok("list", "--json"))
    return {u["shortCode"]: u for u in got}


def imported(shorty, name, count, what):
    out = shorty.ok("import", PEERS / name)
    assert out == f"imported {count} links from {what}\n"
    return links(shorty)


def brief(u):
    return (u["longUrl"], u["title"], u["tags"], u["dateCreated"],
            u["visitsSummary"]["total"])


def test_shlink_csv_export(shorty):
    got = imported(shorty, "shlink.csv", 3, "a Shlink CSV export")
    assert brief(got["manual"]) == ("https://shlink.io/documentation/", "Shlink, the docs",
                                    ["docs", "reference"], "2024-03-01T09:15:00+00:00", 42)
    assert brief(got["Ab3dE"]) == ("https://example.com/a?x=1&y=2", None, [],
                                   "2024-03-02T08:00:00+00:00", 0)
    assert brief(got["q_1-x"]) == ("https://example.org/quoted", 'He said "hi"',
                                   ["campaign-a", "news", "q1-campaign"],
                                   "2024-03-03T23:59:59+00:00", 1234)


def test_yourls_csv_export(shorty):
    got = imported(shorty, "yourls.csv", 3, "a YOURLS CSV export")
    assert {c: (u["longUrl"], u["visitsSummary"]["total"]) for c, u in got.items()} == {
        "ozh": ("http://ozh.org/", 12), "yourls": ("https://yourls.org/", 3),
        "x": ("https://example.com/with,comma", 0)}


def test_yourls_sql_dump(shorty):
    got = imported(shorty, "yourls.sql", 6, "a YOURLS SQL dump")
    assert brief(got["ozh"]) == ("http://ozh.org/", "ozh.org \u2014 Ozh's blog", [],
                                 "2024-01-02T03:04:05+00:00", 2)
    assert brief(got["yourls"])[1:] == ("YOURLS: Your Own URL Shortener", [],
                                        "2024-01-03T00:00:00+00:00", 1530)
    # '' and \" inside a string, a ; inside a string, \\ escaped
    assert brief(got["sql1"])[:2] == ("https://example.com/semi;colon", 'It\'s "quoted"\\n')
    assert got["notitle"]["title"] is None and got["notitle"]["visitsSummary"]["total"] == 7
    # phpMyAdmin's form: a column list, a row a line
    assert brief(got["pma1"]) == ("https://example.net/pma", "From phpMyAdmin", [],
                                  "2024-02-01T08:30:00+00:00", 5)
    assert got["pma2"]["title"] is None
    # the other tables' rows are no links
    assert set(got) == {"ozh", "yourls", "sql1", "notitle", "pma1", "pma2"}


def test_kutt_export(shorty):
    got = imported(shorty, "kutt.csv", 2, "a Kutt export")
    assert brief(got["kutt1"]) == ("https://kutt.it/", "Kutt's first link", [],
                                   "2024-04-01T09:00:00+00:00", 1234)
    assert got["Promo2024"]["meta"]["validUntil"] == "2099-01-01T00:00:00+00:00"
    assert got["Promo2024"]["visitsSummary"]["total"] == 7


def test_bitly_export(shorty):
    got = imported(shorty, "bitly.csv", 2, "a Bitly export")
    assert brief(got["3xYzAbC"]) == ("https://www.example.com/long/path?utm_source=x",
                                     "Example long page", ["marketing", "spring-sale"],
                                     "2024-05-01T12:00:00+00:00", 87)
    assert brief(got["my-brand"]) == ("https://example.org/brand", None, [],
                                      "2024-05-02T08:15:30+00:00", 0)


def test_imported_visits_count_in_the_totals(shorty):
    shorty.ok("import", PEERS / "yourls.sql")
    shorty.ok("import", PEERS / "kutt.csv")
    info = json.loads(shorty.ok("info", "yourls", "--json"))
    assert info["visitsSummary"]["total"] == 1530
    # the codes keep working: they resolve to the imported URLs
    assert shorty.ok("resolve", "Promo2024").strip() == "https://example.com/promo"


@pytest.mark.parametrize("name,text,where", [
    ("broken.sql", "INSERT INTO `yourls_url` VALUES ('a','https://example.com/a','t',"
                   "'2024-01-01 00:00:00','127.0.0.1',1),\n('b','https://example.com/b,",
     "a string is not closed"),
    ("notyourls.sql", "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\n",
     "no INSERT INTO yourls_url"),
    ("badcount.csv", "address,target,visit_count\nk1,https://example.com/1,12\n"
                     "k2,https://example.com/2,many\n", "line 3: the visit count 'many'"),
    ("badurl.csv", "source,target,hits\n/a/,https://example.com/a,1\n/b/,javascript:x,2\n",
     "line 3: "),
])
def test_bad_files_import_nothing(shorty, name, text, where):
    path = shorty.write(name, text)
    line = shorty.fails(2, "import", path)
    assert where in line and line.endswith("nothing was imported"), line
    assert links(shorty) == {}


def test_sql_needs_its_format_or_extension(shorty):
    path = shorty.write("dump.txt", (PEERS / "yourls.sql").read_text())
    line = shorty.fails(2, "import", path)
    assert "--format sql" in line
    assert shorty.ok("import", path, "--format", "sql") == \
        "imported 6 links from a YOURLS SQL dump\n"
