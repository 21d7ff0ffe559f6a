"""Anonymous visitors cannot grow the store without limit (issue 12 item 6).

Before: every redirect stored its referrer and user agent (up to 512 bytes
each) and the visited URL, whoever sent it and however fast, and kept them
forever. Now:
  - the detail brake: past SHORTY_VISIT_DETAIL_LIMIT visits a minute from
    one address, visits are counted and logged without referrer, user
    agent, visited URL or location (shorty_visit_details_braked_total);
  - the retention: the writer drops the details of visits older than
    SHORTY_VISIT_RETENTION seconds, a bounded step after each visit flush
    (shorty_visit_details_pruned_total); the visits and every count stay.
"""
import time

import requests

from httpfix import Server, wait_flush

LONG = "x" * 500


def redirect(srv, code, ip):
    r = requests.get(srv.url(f"/{code}"), allow_redirects=False, timeout=10,
                     headers={"User-Agent": f"Mozilla/5.0 {LONG}", "Referer": f"https://r.example/{LONG}",
                              "X-Forwarded-For": ip})
    assert r.status_code == 302, r.text
    return r


def metric(srv, name):
    r = requests.get(srv.url("/metrics"), timeout=10)
    assert r.status_code == 200
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"no metric {name}")


def link_visits(srv, code):
    r = srv.api("GET", f"/short-urls/{code}/visits", params={"itemsPerPage": 100})
    assert r.status_code == 200, r.text
    return r.json()["visits"]["data"]


def test_details_past_the_limit_are_not_stored_counts_stay():
    s = Server(env={"SHORTY_VISIT_DETAIL_LIMIT": "5", "SHORTY_TRUSTED_PROXIES": "127.0.0.1"})
    s.start()
    try:
        s.create("https://example.com/braked", customSlug="braked")
        for _ in range(12):
            redirect(s, "braked", "198.51.100.7")
        # another address has its own allowance
        redirect(s, "braked", "198.51.100.8")
        wait_flush()
        items = link_visits(s, "braked")
        assert len(items) == 13
        detailed = [v for v in items if v["userAgent"]]
        bare = [v for v in items if not v["userAgent"]]
        assert len(detailed) == 6  # 5 from the first address, 1 from the second
        assert len(bare) == 7
        for v in bare:
            assert v["referer"] == "" and v["visitedUrl"] is None
        for v in detailed:
            assert v["userAgent"].startswith("Mozilla/5.0 xxx")
            assert v["referer"].startswith("https://r.example/")
            assert v["visitedUrl"].endswith("/braked")
        r = s.api("GET", "/short-urls/braked")
        assert r.json()["visitsSummary"]["total"] == 13
        assert metric(s, "shorty_visit_details_braked_total") == 7
    finally:
        s.close()


def test_details_older_than_the_retention_are_dropped():
    s = Server(env={"SHORTY_VISIT_RETENTION": "1"})
    s.start()
    try:
        s.create("https://example.com/kept", customSlug="retained")
        redirect(s, "retained", "198.51.100.9")
        wait_flush()
        # the visit's details survive its first flush, then go: one flush
        # later than a second after the visit
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            items = link_visits(s, "retained")
            assert len(items) == 1
            if not items[0]["userAgent"]:
                break
            time.sleep(0.5)
        assert items[0]["userAgent"] == "" and items[0]["referer"] == ""
        assert items[0]["date"]  # the visit itself stays
        assert s.api("GET", "/short-urls/retained").json()["visitsSummary"]["total"] == 1
        assert metric(s, "shorty_visit_details_pruned_total") == 1
    finally:
        s.close()


def test_no_retention_keeps_details():
    s = Server(env={"SHORTY_VISIT_RETENTION": "0"})
    s.start()
    try:
        s.create("https://example.com/forever", customSlug="forever")
        redirect(s, "forever", "198.51.100.10")
        wait_flush()
        time.sleep(1.5)  # another flush and prune step
        items = link_visits(s, "forever")
        assert items[0]["userAgent"].startswith("Mozilla/5.0")
        assert metric(s, "shorty_visit_details_pruned_total") == 0
    finally:
        s.close()
