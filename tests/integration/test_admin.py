"""/admin: the admin page (admin/, bundled by admin/build.mjs into the
binary) served by `shorty serve`: index.html for every page path, the
content-hashed assets, content types, cache headers, gzip and the
Content-Security-Policy. The bytes served are compared with the build's own
output (SHORTY_BUILD/admin)."""
import gzip
import os
import re

import requests

from httpfix import Server, srv  # noqa: F401

BUILD = os.environ.get("SHORTY_BUILD", "")
OUT = os.path.join(BUILD, "admin")
CSP = ("default-src 'none'; script-src 'self'; "
       "style-src 'self' 'sha256-/6bgAn6kQFTFl0NDjh76WiaknWT5TlBnLlVSsSxdKY8='; "
       "img-src 'self' data: blob:; font-src 'self'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'; connect-src 'self'")


def built(name):
    with open(os.path.join(OUT, name), "rb") as f:
        return f.read()


def assets():
    return sorted(n for n in os.listdir(os.path.join(OUT, "assets")) if not n.endswith(".gz"))


def plain(srv, path, **headers):
    """GET without any content coding."""
    return srv.get(path, headers={"Accept-Encoding": "identity", **headers}, stream=True)


def test_index_for_every_page_path(srv):
    index = built("index.html")
    for path in ("/admin", "/admin/", "/admin/overview", "/admin/list-short-urls/1",
                 "/admin/short-code/abc/visits/by-time", "/admin/x%20y/z"):
        r = plain(srv, path)
        assert r.status_code == 200, path
        assert r.raw.read() == index, path
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["Content-Security-Policy"] == CSP
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Encoding" not in r.headers


def test_index_names_hashed_assets_and_no_inline_script(srv):
    html = plain(srv, "/admin").raw.read().decode()
    js = re.findall(r'<script type="module" src="(/admin/assets/main-[A-Z0-9]+\.js)"></script>', html)
    css = re.findall(r'<link rel="stylesheet" href="(/admin/assets/styles-[A-Z0-9]+\.css)">', html)
    pre = re.findall(r'<link rel="modulepreload" href="(/admin/assets/chunk-[A-Z0-9]+\.js)">', html)
    assert len(js) == 1 and len(css) == 1
    # every other script of the build is preloaded (the admin, after the key form)
    assert sorted(p.rsplit("/", 1)[1] for p in pre) == [a for a in assets() if a.endswith(".js") and not a.startswith("main-")]
    assert html.count("<script") == 1  # the module above, nothing inline
    assert "style=" not in html and "<style" not in html
    assert not re.search(r'(src|href)="([a-z]+:)?//', html)  # nothing from another origin
    for u in js + css + pre:
        assert plain(srv, u).status_code == 200


def test_assets_bytes_types_and_cache(srv):
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
             ".png": "image/png"}
    names = assets()
    assert any(n.endswith(".js") for n in names) and any(n.endswith(".css") for n in names)
    for n in names:
        r = plain(srv, "/admin/assets/" + n)
        assert r.status_code == 200, n
        assert r.raw.read() == built("assets/" + n), n
        assert r.headers["Content-Type"] == types[os.path.splitext(n)[1]], n
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable", n
        assert r.headers["Content-Security-Policy"] == CSP
        assert re.fullmatch(r"[a-z0-9-]+-[A-Z0-9]{8}\.[a-z0-9]+", n), n


def test_gzip_when_accepted(srv):
    for n in [a for a in assets() if a.endswith((".js", ".css"))]:
        path = "/admin/assets/" + n
        r = srv.get(path, headers={"Accept-Encoding": "gzip"}, stream=True)
        body = r.raw.read()
        assert r.headers["Content-Encoding"] == "gzip", n
        assert r.headers["Vary"] == "Accept-Encoding"
        assert body == built("assets/" + n + ".gz")
        assert gzip.decompress(body) == built("assets/" + n)
        assert int(r.headers["Content-Length"]) == len(body) < len(built("assets/" + n))
        # the plain answer says it varies too, so a cache keeps both apart
        p = plain(srv, path)
        assert p.headers["Vary"] == "Accept-Encoding" and "Content-Encoding" not in p.headers
    r = srv.get("/admin/overview", headers={"Accept-Encoding": "br, gzip;q=0.5"}, stream=True)
    assert r.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(r.raw.read()) == built("index.html")


def test_gzip_refused_or_not_named(srv):
    js = "/admin/assets/" + next(a for a in assets() if a.endswith(".js"))
    for ae in ("identity", "br", "gzip;q=0", "gzip; q=0.000", "*;q=0", "*, gzip;q=0", "deflate"):
        r = srv.get(js, headers={"Accept-Encoding": ae}, stream=True)
        assert "Content-Encoding" not in r.headers, ae
        assert r.raw.read() == built("assets/" + js.rsplit("/", 1)[1]), ae
    for ae in ("*", "GZIP", "deflate, gzip;q=0.1", "gzip;q=1.0"):
        r = srv.get(js, headers={"Accept-Encoding": ae}, stream=True)
        assert r.headers.get("Content-Encoding") == "gzip", ae


def test_png_not_compressed(srv):
    png = [a for a in assets() if a.endswith(".png")]
    assert png
    for n in png:
        r = srv.get("/admin/assets/" + n, headers={"Accept-Encoding": "gzip"}, stream=True)
        assert "Content-Encoding" not in r.headers
        assert r.raw.read() == built("assets/" + n)


def test_unknown_asset_is_404_not_index(srv):
    for path in ("/admin/assets/nope.js", "/admin/assets/", "/admin/assets/main.js",
                 "/admin/assets/a/b.css"):
        r = srv.get(path, headers={"Accept": "text/html"})
        assert r.status_code == 404, path
        assert "<title>Not found</title>" in r.text


def test_head_and_methods(srv):
    r = requests.head(srv.url("/admin/overview"), headers={"Accept-Encoding": "identity"}, timeout=10)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Length"] == str(len(built("index.html")))
    r = requests.post(srv.url("/admin/overview"), data="x", timeout=10)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD"


def test_admin_is_not_a_link_code(srv):
    r = srv.api("POST", "/short-urls", json={"longUrl": "https://example.com/", "customSlug": "admin"})
    assert r.status_code == 400
    assert srv.get("/admin").status_code == 200


def test_csp_lets_the_page_reach_the_other_domains():
    """The component's domain list asks each domain's /rest/health (the same
    server under another name): the page's connect-src names every domain
    a link or a redirect named; the assets' policy is the plain one."""
    s = Server()
    s.start()
    try:
        s.create("https://example.com/a", domain="second.test:8443")
        r = s.api("PATCH", "/domains/redirects",
                  json={"domain": "third.test", "baseUrlRedirect": "https://example.com/"})
        assert r.status_code == 200, r.text
        r = plain(s, "/admin/overview")
        assert r.headers["Content-Security-Policy"] == CSP + " second.test:8443 third.test"
        js = [a for a in assets() if a.endswith(".js")][0]
        assert plain(s, "/admin/assets/" + js).headers["Content-Security-Policy"] == CSP
    finally:
        s.close()
