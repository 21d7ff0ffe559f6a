"""Libraries loaded when first used (include/shorty/dynlib.h; issue 11 item
5, idle RSS): a `shorty serve` on SQLite with the own engine maps none of
libcurl, libpq, libmicrohttpd, libxml2, libqrencode, libpng and
libmaxminddb at idle, nor while it only redirects and answers reads; each
is mapped (read from /proc/PID/maps) once its feature runs: the first URL
read (libcurl's URL API: a create), a QR code (libqrencode; libpng for
format=png), --http-engine mhd, --resolve-titles (libxml2 and libcurl),
--geoip-db, a postgres:// store. A library that cannot be
loaded is one clear error (a 503 problem+json naming it and its Debian
package, or one CLI line), and the server keeps serving: checked by hiding
the real library file under /dev/null in a private mount namespace
(`unshare -m`, root), so the loader really fails."""
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

import httpfix
from helpers import BIN, assert_no_sanitizer_report
from httpfix import Server

LOADED = ("libcurl.so", "libpq.so", "libmicrohttpd.so", "libxml2.so", "libqrencode.so", "libpng16.so",
          "libmaxminddb.so")


def mapped(pid):
    """The loaded libraries of LOADED that process pid maps."""
    with open(f"/proc/{pid}/maps") as f:
        names = {os.path.basename(line.split()[-1]) for line in f if "/" in line}
    return {lib for lib in LOADED if any(n.startswith(lib) for n in names)}


def real_file(soname):
    """The file the dynamic loader opens for soname (ldconfig's cache)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == soname and "x86-64" in line:
            return os.path.realpath(parts[-1])
    raise AssertionError(f"{soname} is not in ldconfig's cache")


def hiding(soname, directory):
    """A wrapper for the binary that runs it in a private mount namespace
    where soname's file is /dev/null (dlopen fails: "file too short")."""
    path = Path(directory) / "shorty-without-lib"
    path.write_text("#!/bin/sh\n"
                    f"exec unshare -m sh -c 'mount --bind /dev/null \"$0\" && exec \"$@\"' "
                    f"{real_file(soname)} {BIN} \"$@\"\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def server_without(monkeypatch, tmp_path):
    """server_without(soname, env=None): a started Server whose process
    cannot load soname."""
    made = []

    def make(soname, env=None):
        monkeypatch.setattr(httpfix, "BIN", hiding(soname, tmp_path))
        s = Server(env=env)
        made.append(s)
        return s.start()

    yield make
    for s in made:
        s.close()


def started(env=None, db=None):
    s = Server(env=env)
    if db:
        s.db = db
    return s.start()


def test_idle_and_redirecting_serve_maps_none_of_them_and_a_create_libcurl():
    s = started()
    try:
        assert mapped(s.proc.pid) == set(), "mapped at idle"
        short = s.cli("add", "https://example.com/a?x=1").strip()  # another process
        code = short.rsplit("/", 1)[1]
        assert s.get("/" + code).status_code == 302
        assert s.get(f"/{code}?utm_source=x%2Fy&a+b=c").status_code == 302
        assert s.get("/no-such-code").status_code == 404
        assert s.api("GET", "/short-urls?searchTerm=example&page=1").status_code == 200
        assert s.api("GET", f"/short-urls/{code}/visits").status_code == 200
        assert s.get("/").status_code in (200, 302)
        assert s.get("/admin/").status_code == 200
        assert mapped(s.proc.pid) == set(), "mapped after redirects and reads"
        s.create("https://example.com/b")
        assert mapped(s.proc.pid) == {"libcurl.so"}
    finally:
        s.close()


def test_a_qr_code_loads_libqrencode_and_a_png_one_libpng():
    s = started()
    try:
        code = s.create("https://example.com/qr")["shortCode"]
        r = s.get(f"/{code}/qr-code")
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/svg+xml"
        assert r.text.startswith("<?xml") or r.text.startswith("<svg")
        assert mapped(s.proc.pid) == {"libcurl.so", "libqrencode.so"}
        r = s.get(f"/{code}/qr-code?format=png&size=100")
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert mapped(s.proc.pid) == {"libcurl.so", "libqrencode.so", "libpng16.so"}
    finally:
        s.close()


@pytest.mark.parametrize("env,libs", [
    ({"SHORTY_HTTP_ENGINE": "mhd"}, {"libmicrohttpd.so"}),
    ({"SHORTY_RESOLVE_TITLES": "true"}, {"libxml2.so", "libcurl.so"}),
])
def test_a_feature_at_start_loads_its_libraries(env, libs):
    s = started(env=env)
    try:
        assert mapped(s.proc.pid) == libs
        code = s.create("https://example.com/f")["shortCode"]
        assert s.get("/" + code).status_code == 302
    finally:
        s.close()


def test_a_geoip_database_loads_libmaxminddb(geodb):
    s = started(env={"SHORTY_GEOIP_DB": str(geodb)})
    try:
        assert mapped(s.proc.pid) == {"libmaxminddb.so"}
    finally:
        s.close()


def test_a_postgres_store_loads_libpq(pgdb):
    s = started(db=pgdb)
    try:
        assert mapped(s.proc.pid) == {"libpq.so"}
        code = s.create("https://example.com/pg")["shortCode"]
        assert mapped(s.proc.pid) == {"libpq.so", "libcurl.so"}
        assert s.get("/" + code).status_code == 302
    finally:
        s.close()


def test_without_libqrencode_a_qr_code_is_a_503_naming_it(server_without):
    s = server_without("libqrencode.so.4")
    code = s.create("https://example.com/noqr")["shortCode"]
    r = s.get(f"/{code}/qr-code")
    assert r.status_code == 503
    assert r.headers["Content-Type"] == "application/problem+json"
    p = r.json()
    assert p["status"] == 503 and p["title"] == "Service Unavailable"
    assert p["detail"].startswith("QR codes: libqrencode.so.4 could not be loaded (")
    assert p["detail"].endswith("): install the Debian package libqrencode4")
    # the server goes on serving, and the next try fails the same way
    assert s.get("/" + code).status_code == 302
    assert s.get(f"/{code}/qr-code").status_code == 503


def test_without_libcurl_serve_starts_and_a_create_is_a_503_naming_it(server_without):
    s = server_without("libcurl.so.4")
    r = s.api("POST", "/short-urls", json={"longUrl": "https://example.com/nocurl"})
    assert r.status_code == 503
    assert r.headers["Content-Type"] == "application/problem+json"
    detail = r.json()["detail"]
    assert detail.startswith("URLs: libcurl.so.4 could not be loaded (")
    assert detail.endswith("): install the Debian package libcurl4")
    assert s.get("/health").status_code == 200
    assert s.get("/no-such-code").status_code == 404
    assert s.api("GET", "/short-urls").json()["shortUrls"]["data"] == []


def test_without_libpng_an_svg_qr_code_still_works(server_without):
    s = server_without("libpng16.so.16")
    code = s.create("https://example.com/nopng")["shortCode"]
    assert s.get(f"/{code}/qr-code").status_code == 200
    r = s.get(f"/{code}/qr-code?format=png")
    assert r.status_code == 503
    assert r.json()["detail"].startswith("PNG QR codes: libpng16.so.16 could not be loaded (")


def run_without(soname, *args, env_extra=None):
    with tempfile.TemporaryDirectory(prefix="shorty-nolib-") as d:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTY_")}
        env["SHORTY_DB"] = f"sqlite:{d}/shorty.db"
        env.update(env_extra or {})
        p = subprocess.run([hiding(soname, d), *map(str, args)], capture_output=True,
                           text=True, env=env, cwd=d, timeout=60)
    assert_no_sanitizer_report(args, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    return p.returncode, lines[0]


def test_without_libcurl_add_is_one_line():
    rc, line = run_without("libcurl.so.4", "add", "https://example.com/")
    assert rc == 1
    assert line.startswith("shorty: URLs: libcurl.so.4 could not be loaded (")


def test_without_libpq_a_postgres_store_is_one_line(pgdb):
    rc, line = run_without("libpq.so.5", "--db", pgdb, "list")
    assert rc == 1
    assert line.startswith("shorty: PostgreSQL stores (postgres://): libpq.so.5 could not be "
                           "loaded (")
    assert line.endswith("): install the Debian package libpq5")


@pytest.mark.parametrize("env,soname,use,package", [
    ({"SHORTY_HTTP_ENGINE": "mhd"}, "libmicrohttpd.so.12", "--http-engine mhd",
     "libmicrohttpd12"),
    ({"SHORTY_RESOLVE_TITLES": "true"}, "libxml2.so.2", "page titles (--resolve-titles)",
     "libxml2"),
])
def test_without_its_library_serve_stops_at_start_with_one_line(env, soname, use, package):
    rc, line = run_without(soname, "serve", "--listen", f"127.0.0.1:{httpfix.free_port()}",
                           env_extra=env)
    assert rc == 1
    assert line.startswith(f"shorty: {use}: {soname} could not be loaded (")
    assert line.endswith(f"): install the Debian package {package}")


def test_without_libmaxminddb_a_geoip_database_is_one_line(geodb):
    rc, line = run_without("libmaxminddb.so.0", "serve", "--listen",
                           f"127.0.0.1:{httpfix.free_port()}", "--geoip-db", geodb)
    assert rc == 1
    assert line.startswith("shorty: GeoIP (--geoip-db): libmaxminddb.so.0 could not be loaded (")


# `shorty --check-libs` (deploy/Containerfile runs it at build time): every
# library of LOADED by its soname, with its Debian package.
CHECKED = [("libcurl.so.4", "libcurl4"), ("libmicrohttpd.so.12", "libmicrohttpd12"),
           ("libpq.so.5", "libpq5"), ("libxml2.so.2", "libxml2"),
           ("libqrencode.so.4", "libqrencode4"), ("libpng16.so.16", "libpng16-16"),
           ("libmaxminddb.so.0", "libmaxminddb0")]


def check_libs(binary, d):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHORTY_")}
    p = subprocess.run([binary, "--check-libs"], capture_output=True, text=True, env=env,
                       cwd=d, timeout=60)
    assert_no_sanitizer_report("--check-libs", p.stderr)
    return p


def test_check_libs_loads_every_library_and_says_so(tmp_path):
    p = check_libs(BIN, tmp_path)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    lines = p.stdout.splitlines()
    assert [line.split()[:3] for line in lines] == [[s, pkg, "ok"] for s, pkg in CHECKED]
    assert {lib for lib in LOADED if any(lib in line for line in lines)} == set(LOADED)
    assert not (tmp_path / "shorty.db").exists(), "--check-libs opened a store"


@pytest.mark.parametrize("soname,package", [CHECKED[2], CHECKED[5]])
def test_check_libs_without_one_library_fails_naming_it(tmp_path, soname, package):
    p = check_libs(hiding(soname, tmp_path), tmp_path)
    assert p.returncode == 1
    err = p.stderr.splitlines()
    assert len(err) == 2, p.stderr
    assert f": {soname} could not be loaded (" in err[0]
    assert err[0].startswith("shorty: ") and err[0].endswith(
        f"): install the Debian package {package}")
    assert err[1] == "shorty: 1 of 7 libraries shorty loads when first used are missing (above)"
    # the others are still listed as loaded
    ok = [line.split()[0] for line in p.stdout.splitlines()]
    assert ok == [s for s, _ in CHECKED if s != soname]
