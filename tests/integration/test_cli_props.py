"""Property tests of the `shorty` command line (hypothesis): whatever URL is
accepted resolves to its normalized form, normalizing is idempotent, adding
twice gives the same code, nothing the CLI is given makes it crash, and an
export imported into an empty store gives the same links back.

Example counts are kept moderate: every example runs the real binary
(under ASan in `make test`) a few times."""
import csv
import io
import json
import string

from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

from helpers import code_of

SETTINGS = dict(deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

# ---- URLs -------------------------------------------------------------------

label = st.text(string.ascii_letters + string.digits, min_size=1, max_size=12)
host = st.builds(lambda ls, tld: ".".join(ls + [tld]),
                 st.lists(label, min_size=1, max_size=3),
                 st.sampled_from(["com", "org", "example", "IO", "test"]))
port = st.sampled_from(["", ":80", ":443", ":8080", ":0"])
segment = st.one_of(
    st.text(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@", max_size=10),
    st.sampled_from([".", "..", "%2e", "%7E", "%41", "%2F", "%c3%bc", "ü", "a%20b", "100%"]),
)
path = st.lists(segment, max_size=5).map(lambda s: "/" + "/".join(s))
query = st.one_of(st.just(""), st.text(string.ascii_letters + string.digits + "=&%+/?",
                                       max_size=12).map(lambda q: "?" + q))
fragment = st.one_of(st.just(""), st.text(string.ascii_letters + "#/", max_size=6)
                     .map(lambda f: "#" + f))
url = st.builds(lambda sc, h, p, pa, q, f: f"{sc}://{h}{p}{pa}{q}{f}",
                st.sampled_from(["http", "https", "HTTP", "Https"]), host, port, path, query,
                fragment)


@settings(max_examples=50, **SETTINGS)
@given(u=url)
def test_accepted_url_resolves_to_its_normalized_form(new_store, u):
    s = new_store()
    rc, out, err = s.run("add", u)
    assert rc in (0, 2), err
    if rc == 2:
        assert out == "" and len(err.splitlines()) == 1 and err.startswith("shorty: ")
        return
    code = code_of(out)
    norm = s.ok("resolve", code).rstrip("\n")
    assert norm.startswith(("http://", "https://"))
    assert norm == norm.strip() and all(ord(c) > 0x20 and ord(c) != 0x7f for c in norm)
    # add twice: the same code
    assert code_of(s.ok("add", u)) == code
    # normalizing is idempotent: the normalized URL is the same link
    assert code_of(s.ok("add", norm)) == code
    assert s.ok("resolve", code).rstrip("\n") == norm


@settings(max_examples=80, **SETTINGS)
@given(raw=st.one_of(st.text(max_size=60),
                     st.binary(max_size=60).filter(lambda b: b"\0" not in b)))
def test_any_input_is_accepted_or_refused_in_one_line(new_store, raw):
    if isinstance(raw, str):
        assume("\0" not in raw)
        assume(not raw.startswith("-"))
    else:
        assume(not raw.startswith(b"-"))
    s = new_store()
    rc, out, err = s.run("add", raw)
    assert rc in (0, 2), err
    if rc == 0:
        assert err == ""
        s.ok("resolve", code_of(out))
    else:
        assert out == "" and len(err.splitlines()) == 1 and err.startswith("shorty: ")
        assert s.ok("list") == ""


# ---- export / import round trip ---------------------------------------------

custom_code = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=16)
tag = st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=12)
title = st.one_of(
    st.none(),
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn")), min_size=1,
            max_size=24),
    st.sampled_from(['=1+2', '+x', '-y', '@z', "'=w", 'a,b', 'say "hi"', "x\u2028y"]),
)
link = st.fixed_dictionaries({
    "url": url,
    "code": st.one_of(st.none(), custom_code),
    "title": title,
    "tags": st.lists(tag, max_size=4, unique=True),
})


def snapshot(s):
    arr = json.loads(s.ok("export", "--format", "json"))
    return sorted((o["shortCode"], o["longUrl"], o["title"], sorted(o["tags"]),
                   o["dateCreated"], o["redirectStatus"]) for o in arr)


@settings(max_examples=25, **SETTINGS)
@given(links=st.lists(link, min_size=1, max_size=5), fmt=st.sampled_from(["csv", "json"]))
def test_export_then_import_gives_the_same_links(new_store, links, fmt):
    a = new_store()
    a.ok("migrate")
    for ln in links:
        args = ["add", ln["url"], "--no-dedupe"]
        if ln["code"]:
            args += ["--code=" + ln["code"]]
        if ln["title"] is not None:
            args += ["--title=" + ln["title"]]
        for t in ln["tags"]:
            args += ["--tag=" + t]
        rc, out, err = a.run(*args)
        assert rc in (0, 1, 2), err  # 1: code taken, 2: refused URL/code/title
    before = snapshot(a)
    exported = a.ok("export", "--format", fmt)
    if fmt == "csv":
        for row in csv.DictReader(io.StringIO(exported)):
            for v in row.values():
                assert not v or v[0] not in "=+-@\t\r"
    b = new_store()
    b.write("links." + fmt, exported)
    out = b.ok("import", "links." + fmt)
    assert out == f"imported {len(before)} links\n"
    assert snapshot(b) == before
    # and the codes resolve to the same URLs in the new store
    for code, long_url, *_ in before[:3]:
        assert b.ok("resolve", "--", code) == long_url + "\n"


# Issue 12: the CSV round trip is exact for EVERY string, including those made
# of quotes and formula characters ('' =1+1 came back as '=1+1). The links are
# loaded from JSON (lossless), exported as CSV, imported into an empty store.
any_text = st.text(st.one_of(st.sampled_from(list("'\"=+-@,; |!")),
                             st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn"))),
                   max_size=10)
tricky_title = st.one_of(
    # any number of ' before a formula character (or not), then anything
    st.builds(lambda q, f, rest: "'" * q + f + rest, st.integers(0, 4),
              st.sampled_from(list("=+-@'\"a ")), any_text),
    any_text.filter(bool))


@settings(max_examples=12, **SETTINGS)
@example(titles=["''=1+1", "'''@x", "'", "''", "'-", "'a", "=1", "' =x", "\"'=x\""])
@given(titles=st.lists(tricky_title, min_size=1, max_size=10))
def test_csv_round_trip_is_exact_for_every_title(new_store, titles):
    a = new_store()
    a.write("in.json", json.dumps([{"longUrl": f"https://t.example/{i}", "shortCode": f"t{i}",
                                    "title": t} for i, t in enumerate(titles)]))
    a.ok("import", "in.json")
    exported = a.ok("export", "--format", "csv")
    for row in csv.DictReader(io.StringIO(exported)):
        assert not row["title"] or row["title"][0] not in "=+-@\t\r"
    b = new_store()
    b.write("links.csv", exported)
    b.ok("import", "links.csv")
    got = {o["shortCode"]: o["title"] for o in json.loads(b.ok("export", "--format", "json"))}
    assert got == {f"t{i}": t for i, t in enumerate(titles)}
    # and the file is a fixed point: exporting again writes the same bytes
    assert b.ok("export", "--format", "csv") == exported
