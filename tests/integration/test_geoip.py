"""The GeoIP database option (--geoip-db / SHORTY_GEOIP_DB): `serve` opens
it at start; a file that is not a readable MaxMind database stops the start
with one clear line and exit status 2, before the port is taken; a real
database (written by tests/fixtures/make-geoip-db.pl) lets it start; no
database is no error. (Visits located with it: test_visits_shlink.py; the
geolocation redirect conditions: test_redirect_rules.py; src/service/geoip.c's
lookups are unit-tested in test_geoip.c.)"""
import subprocess

import requests
from helpers import ROOT
from httpfix import Server, free_port


def test_missing_database_file_stops_the_start(shorty):
    path = shorty.dir / "nowhere" / "GeoLite2-City.mmdb"
    line = shorty.fails(2, "serve", "--listen", f"127.0.0.1:{free_port()}", "--geoip-db", path)
    assert line == f"shorty: cannot read the GeoIP database {path}: No such file or directory"


def test_a_file_that_is_no_database_stops_the_start(shorty):
    path = shorty.write("fake.mmdb", "country,city\nGB,London\n")
    line = shorty.fails(2, "serve", "--listen", f"127.0.0.1:{free_port()}",
                        env={"SHORTY_GEOIP_DB": str(path)})
    assert line.startswith(f"shorty: {path} is not a MaxMind-format (.mmdb) database: ")


def test_a_database_lets_serve_start_and_none_is_no_error(tmp_path):
    db = tmp_path / "test.mmdb"
    subprocess.run(["perl", str(ROOT / "tests" / "fixtures" / "make-geoip-db.pl"), str(db)],
                   check=True, timeout=120)
    for env in ({"SHORTY_GEOIP_DB": str(db)}, {"SHORTY_GEOIP_DB": ""}, {}):
        s = Server(env=env)
        try:
            s.start()
            assert requests.get(s.url("/health"), timeout=5).status_code == 200
            s.stop()
        finally:
            s.close()
