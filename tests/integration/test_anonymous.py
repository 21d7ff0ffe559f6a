"""Anonymous creation (POST /api/shorten) and the links of others (issue 12
item 9): an anonymous creator dedupes only against anonymous links, never
against the operator's (CLI) or an API key's, and its answer shows only
what it may see of a link. docs/security.md quotes these tests.
"""
import re

import pytest
import requests

from httpfix import Server, wait_flush

# what the public answer may carry: the short link and the URL sent
PUBLIC_FIELDS = {"shortCode", "shortUrl", "longUrl"}


@pytest.fixture(scope="module")
def pub():
    s = Server(env={"SHORTY_RATE_LIMIT": "0"})
    s.start()
    yield s
    s.close()


def anon(s, url):
    r = requests.post(s.url("/api/shorten"), json={"url": url}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def anon_page(s, url):
    r = requests.post(s.url("/api/shorten"), data={"url": url}, timeout=10)
    assert r.status_code == 200, r.text
    return r.text, re.search(r'id=short href="[^"]+/([^/"]+)"', r.text).group(1)


def test_anonymous_never_gets_the_operators_link(pub):
    url = "https://example.com/operator-only"
    op = pub.cli("add", url, "--title", "Operator secret", "--tag", "internal",
                 "--json")
    op_code = re.search(r'"shortCode":\s*"([^"]+)"', op).group(1)
    pub.get("/" + op_code)
    wait_flush()
    got = anon(pub, url)
    assert got["shortCode"] != op_code
    assert set(got) == PUBLIC_FIELDS, got
    text, code = anon_page(pub, url)
    assert code == got["shortCode"]  # anonymous links dedupe among themselves
    assert op_code not in text and "Operator secret" not in text
    # and the operator's own create is not handed the anonymous link either
    assert pub.cli("add", url).strip().endswith("/" + op_code)


def test_anonymous_never_gets_a_keys_link(pub):
    url = "https://example.com/authors-link"
    author = pub.key("author", "author")
    mine = pub.create(url, key=author, title="Author's", tags=["private"])
    got = anon(pub, url)
    assert got["shortCode"] != mine["shortCode"]
    assert set(got) == PUBLIC_FIELDS, got
    # the key, asking for its link of the same URL (findIfExists), gets its
    # own link, not the anonymous one
    assert pub.create(url, key=author, findIfExists=True)["shortCode"] == mine["shortCode"]


def test_anonymous_link_first_is_not_handed_to_the_operator(pub):
    url = "https://example.com/anonymous-first"
    first = anon(pub, url)
    assert not pub.cli("add", url).strip().endswith("/" + first["shortCode"])
    assert anon(pub, url)["shortCode"] == first["shortCode"]


def test_public_answer_shows_no_counts_of_another_anonymous_link(pub):
    url = "https://example.com/popular"
    first = anon(pub, url)
    for _ in range(3):
        pub.get("/" + first["shortCode"])
    wait_flush()
    again = anon(pub, url)
    assert again == first  # the same link, and nothing more than its creator saw
    assert set(again) == PUBLIC_FIELDS
