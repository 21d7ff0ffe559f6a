"""Issue 9 item 2 for the public routes besides the redirect: the QR code,
the preview page (/<code>+), the page at / and the YOURLS API answer for the
domain the request's Host names, as the redirect does (its link of the code,
else the default domain's; an unknown host is the default domain), and show
short URLs on the link's own domain. The QR code's content is checked
module for module against libqrencode's own encoding of the expected URL."""
import ctypes
import ctypes.util
import re

import pytest
import requests

from httpfix import Server, wait_flush

DEFAULT = "s.test"
OTHER = "other.test"


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"SHORTY_BASE_URL": f"http://{DEFAULT}"})
    s.start()
    # the same custom code on both domains, and a code only the default has
    s.create("https://example.com/on-default", customSlug="both", title="Default's")
    s.create("https://example.com/on-other", customSlug="both", domain=OTHER, title="Other's")
    s.create("https://example.com/only-default", customSlug="dflt")
    yield s
    s.close()


def on(srv, host, path, method="GET", **kw):
    return requests.request(method, srv.url(path), headers={"Host": host},
                            allow_redirects=False, timeout=10, **kw)


# ---- QR codes --------------------------------------------------------------

class _QRcode(ctypes.Structure):
    _fields_ = [("version", ctypes.c_int), ("width", ctypes.c_int),
                ("data", ctypes.POINTER(ctypes.c_ubyte))]


def qr_modules(text):
    """The dark modules (x, y) of libqrencode's QR code of text, with the
    settings shorty uses (auto version, level L, 8-bit, case-sensitive)."""
    lib = ctypes.CDLL(ctypes.util.find_library("qrencode") or "libqrencode.so.4")
    lib.QRcode_encodeString.restype = ctypes.POINTER(_QRcode)
    lib.QRcode_encodeString.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                        ctypes.c_int, ctypes.c_int]
    q = lib.QRcode_encodeString(text.encode(), 0, 0, 2, 1)  # QR_ECLEVEL_L, QR_MODE_8
    assert q, text
    w = q.contents.width
    dark = {(x, y) for y in range(w) for x in range(w) if q.contents.data[y * w + x] & 1}
    lib.QRcode_free(q)
    return dark


def svg_modules(svg):
    """The dark modules of shorty's SVG (runs "M<x> <y>h<n>v1h-<n>z", margin 0)."""
    dark = set()
    for x, y, n in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", svg):
        dark |= {(int(x) + i, int(y)) for i in range(int(n))}
    return dark


def test_qr_code_is_the_hosts_link_on_its_own_domain(srv):
    r = on(srv, OTHER, "/both/qr-code")
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/svg+xml"
    assert svg_modules(r.text) == qr_modules(f"http://{OTHER}/both")
    r = on(srv, DEFAULT, "/both/qr-code")
    assert svg_modules(r.text) == qr_modules(f"http://{DEFAULT}/both")
    # an unknown host is the default domain
    assert svg_modules(on(srv, "nobody.test", "/both/qr-code").text) == \
        qr_modules(f"http://{DEFAULT}/both")
    # a code only the default domain has: its link (fallback), on its domain
    assert svg_modules(on(srv, OTHER, "/dflt/qr-code").text) == \
        qr_modules(f"http://{DEFAULT}/dflt")
    # PNG too, and unknown codes are 404 on every host
    r = on(srv, OTHER, "/both/qr-code", params={"format": "png"})
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert on(srv, OTHER, "/nosuch/qr-code").status_code == 404


# ---- preview ---------------------------------------------------------------

def test_preview_is_the_hosts_link(srv):
    r = on(srv, OTHER, "/both+")
    assert r.status_code == 200
    assert "https://example.com/on-other" in r.text and "<strong>Other" in r.text
    assert f"<code>http://{OTHER}/both</code>" in r.text
    assert "on-default" not in r.text
    r = on(srv, DEFAULT, "/both+")
    assert "https://example.com/on-default" in r.text and f"<code>http://{DEFAULT}/both</code>" in r.text
    r = on(srv, OTHER, "/dflt+")  # fallback
    assert r.status_code == 200 and f"<code>http://{DEFAULT}/dflt</code>" in r.text
    assert on(srv, OTHER, "/nosuch+").status_code == 404


# ---- the page at / -----------------------------------------------------------

def test_page_creates_on_the_hosts_domain(srv):
    r = on(srv, OTHER, "/api/shorten", method="POST",
           json={"url": "https://example.com/page-on-other"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["shortUrl"] == f"http://{OTHER}/{body['shortCode']}"
    got = srv.api("GET", f"/short-urls/{body['shortCode']}", params={"domain": OTHER}).json()
    assert got["domain"] == OTHER and got["longUrl"] == "https://example.com/page-on-other"
    assert on(srv, OTHER, "/" + body["shortCode"]).headers["Location"] == \
        "https://example.com/page-on-other"
    # the form (no JavaScript): the result page shows the other domain's link
    r = on(srv, OTHER, "/api/shorten", method="POST", data={"url": "https://example.com/form-other"})
    assert r.status_code == 200
    m = re.search(rf"http://{re.escape(OTHER)}/([A-Za-z0-9_-]+)", r.text)
    assert m, r.text
    assert on(srv, OTHER, "/" + m.group(1)).headers["Location"] == "https://example.com/form-other"
    # an unknown host: the default domain
    r = on(srv, "nobody.test", "/api/shorten", method="POST",
           json={"url": "https://example.com/page-unknown"})
    assert r.json()["shortUrl"].startswith(f"http://{DEFAULT}/")


# ---- YOURLS ------------------------------------------------------------------

def yourls(srv, host, **params):
    params.setdefault("signature", srv.admin_key)
    params.setdefault("format", "json")
    r = on(srv, host, "/yourls-api.php", params=params)
    assert r.headers["Content-Type"].startswith("application/json"), r.text
    return r, r.json()


def test_yourls_shorturl_on_the_hosts_domain(srv):
    r, b = yourls(srv, OTHER, action="shorturl", url="https://example.com/yourls-other",
                  keyword="yo1")
    assert r.status_code == 200 and b["status"] == "success", b
    assert b["shorturl"] == f"http://{OTHER}/yo1"
    got = srv.api("GET", "/short-urls/yo1", params={"domain": OTHER})
    assert got.status_code == 200 and got.json()["domain"] == OTHER
    # not on the default domain
    assert srv.api("GET", "/short-urls/yo1").status_code == 404
    # the same URL again without a keyword on the other domain: a new link of
    # that domain, then YOURLS's duplicate answer naming it
    _, b1 = yourls(srv, OTHER, action="shorturl", url="https://example.com/yourls-dup")
    _, b2 = yourls(srv, OTHER, action="shorturl", url="https://example.com/yourls-dup")
    assert b1["shorturl"].startswith(f"http://{OTHER}/") and b2["shorturl"] == b1["shorturl"]
    assert b2["code"] == "error:url"


def test_yourls_expand_and_url_stats_on_the_hosts_domain(srv):
    for short in ("both", f"http://{OTHER}/both", f"https://{OTHER}/both"):
        r, b = yourls(srv, OTHER, action="expand", shorturl=short)
        assert r.status_code == 200 and b["longurl"] == "https://example.com/on-other", (short, b)
        assert b["shorturl"] == f"http://{OTHER}/both"
    _, b = yourls(srv, DEFAULT, action="expand", shorturl="both")
    assert b["longurl"] == "https://example.com/on-default" and b["shorturl"] == f"http://{DEFAULT}/both"
    # the default domain's base names the code too; a code only it has: its link
    _, b = yourls(srv, OTHER, action="expand", shorturl=f"http://{DEFAULT}/dflt")
    assert b["longurl"] == "https://example.com/only-default" and b["shorturl"] == f"http://{DEFAULT}/dflt"
    on(srv, OTHER, "/both")
    wait_flush()
    _, b = yourls(srv, OTHER, action="url-stats", shorturl="both")
    assert b["link"]["shorturl"] == f"http://{OTHER}/both"
    assert b["link"]["url"] == "https://example.com/on-other" and b["link"]["clicks"] >= 1
    _, b = yourls(srv, OTHER, action="url-stats", shorturl="nosuch")
    assert b["statusCode"] == "404"


def test_yourls_stats_show_each_link_on_its_domain(srv):
    _, b = yourls(srv, DEFAULT, action="stats", filter="last", limit="100")
    urls = {l["url"]: l["shorturl"] for l in b["links"].values()}
    assert urls["https://example.com/on-other"] == f"http://{OTHER}/both"
    assert urls["https://example.com/on-default"] == f"http://{DEFAULT}/both"
