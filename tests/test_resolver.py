"""Object names: the offline catalogues (OpenNGC with its common names and cross-identified
catalogues, named bright stars) checked against published positions, then CDS Sesame through a
local HTTP server answering in Sesame's documented XML format, with its cache table."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from django.urls import reverse

from extraction.models import ResolvedNameCache
from extraction.services.names import NameNotFound, name_resolve

pytestmark = pytest.mark.django_db

#: Published J2000 positions (SIMBAD), typed here as an astronomer would look them up.
PUBLISHED = {
    "Sombrero": ("12 39 59.43", "-11 37 23.0"),
    "Andromeda": ("00 42 44.33", "+41 16 07.5"),
    "Crab": ("05 34 31.94", "+22 00 52.2"),
    "Whirlpool": ("13 29 52.70", "+47 11 42.9"),
    "LMC": ("05 23 34.5", "-69 45 22"),
    "SMC": ("00 52 38.0", "-72 48 01"),
    "Vega": ("18 36 56.34", "+38 47 01.3"),
    "Betelgeuse": ("05 55 10.31", "+07 24 25.4"),
    "PGC 2789": ("00 47 33.13", "-25 17 19.7"),  # NGC 253
    "UGC 8493": ("13 29 52.70", "+47 11 42.9"),  # M 51
    "Sombrero Galaxy": ("12 39 59.43", "-11 37 23.0"),
}
#: Extended objects: OpenNGC's centre and SIMBAD's may differ by a fraction of the object.
TOLERANCE_ARCMIN = {"LMC": 30.0, "SMC": 30.0}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_names_users_type_resolve_offline_near_their_published_positions(name: str) -> None:
    found = name_resolve(name=name)
    ra, dec = PUBLISHED[name]
    published = SkyCoord(ra, dec, unit=(u.hourangle, u.deg))
    here = SkyCoord(found.ra_deg * u.deg, found.dec_deg * u.deg)
    assert here.separation(published).arcmin < TOLERANCE_ARCMIN.get(name, 1.0)
    assert "offline" in found.source


def test_stars_and_galaxies_say_which_catalogue_answered() -> None:
    assert "bright stars" in name_resolve(name="vega").source
    assert "OpenNGC" in name_resolve(name="PGC 2789").source
    assert name_resolve(name="PGC 2789").name == "NGC0253"


def test_a_name_of_several_objects_asks_which_one() -> None:
    with pytest.raises(NameNotFound, match="several objects") as caught:
        name_resolve(name="Orion")
    assert "NGC1976" in str(caught.value)


def test_offline_only_by_default_sesame_is_never_asked(settings, sesame) -> None:
    settings.DSSPORTAL_RESOLVER_ONLINE = False
    with pytest.raises(NameNotFound) as caught:
        name_resolve(name="3C 273")
    assert "Sesame" not in str(caught.value) and sesame.hits == []


# -- CDS Sesame, on loopback ------------------------------------------------------------------

ANSWER_3C273 = b"""<?xml version="1.0" encoding="UTF-8" ?>
<Sesame xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:noNamespaceSchemaLocation="http://cds.unistra.fr/cgi-bin/Sesame/sesame_4x.xsd">
<Target option="SNV">
  <name>3C 273</name>
  <INFO>*** 3C 273</INFO>
  <Resolver name="S=Simbad (CDS, via client/server)">
    <INFO>from cache</INFO>
    <otype>QSO</otype>
    <jpos>12:29:06.69 +02:03:08.5</jpos>
    <jradeg>187.2779154</jradeg>
    <jdedeg>+02.0523883</jdedeg>
    <refPos>2020yCat.1350....0G</refPos>
    <oname>3C 273</oname>
    <nrefs>4622</nrefs>
  </Resolver>
</Target>
</Sesame>
"""
ANSWER_NOTHING = b"""<?xml version="1.0" encoding="UTF-8" ?>
<Sesame><Target option="SNV"><name>Vulcan</name>
  <Resolver name="S=Simbad (CDS, via client/server)"><INFO>*** Nothing found ***</INFO></Resolver>
  <Resolver name="N=NED"><INFO>*** Nothing found ***</INFO></Resolver>
</Target></Sesame>
"""


class FakeSesame:
    def __init__(self) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                name = unquote(parts.query)
                outer.hits.append(f"{parts.path}?{name}")
                body = ANSWER_3C273 if name == "3C 273" else ANSWER_NOTHING
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/nph-sesame"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sesame(settings) -> Iterator[FakeSesame]:
    server = FakeSesame()
    settings.DSSPORTAL_RESOLVER_SESAME_URL = server.url
    settings.DSSPORTAL_RESOLVER_TIMEOUT_S = 2.0
    yield server
    server.stop()


def test_sesame_resolves_what_the_offline_catalogues_do_not_and_is_asked_once(
    settings, sesame
) -> None:
    settings.DSSPORTAL_RESOLVER_ONLINE = True
    found = name_resolve(name="3C  273")
    assert (found.ra_deg, found.dec_deg) == pytest.approx((187.2779154, 2.0523883))
    assert found.object_type == "QSO" and "CDS Sesame" in found.source
    assert sesame.hits == ["/cgi-bin/nph-sesame/-ox/SNV?3C 273"]
    again = name_resolve(name="3c 273")
    assert "cached" in again.source and len(sesame.hits) == 1
    # Offline names never go on-line.
    name_resolve(name="M 31")
    assert len(sesame.hits) == 1


def test_a_name_sesame_does_not_know_is_remembered_for_a_while(settings, sesame) -> None:
    settings.DSSPORTAL_RESOLVER_ONLINE = True
    for _ in range(2):
        with pytest.raises(NameNotFound, match="CDS Sesame"):
            name_resolve(name="Vulcan")
    assert len(sesame.hits) == 1
    assert ResolvedNameCache.objects.get(key="vulcan").found is False


def test_sesame_down_is_a_clear_message_and_a_cached_answer_still_serves(settings, sesame) -> None:
    settings.DSSPORTAL_RESOLVER_ONLINE = True
    name_resolve(name="3C 273")
    sesame.stop()
    ResolvedNameCache.objects.update(expires_at="2000-01-01T00:00Z")  # stale
    assert name_resolve(name="3C 273").ra_deg == pytest.approx(187.2779154)
    with pytest.raises(NameNotFound, match="did not answer"):
        name_resolve(name="HD 1234")


def test_the_plate_finder_and_the_api_say_which_resolver_answered(client, settings) -> None:
    page = client.get(
        reverse("plate-finder"), {"name": "Betelgeuse", "width": "10", "height": "10"}
    ).content.decode()
    assert "position from named bright stars" in page
    answer = client.get(reverse("api-resolve"), {"name": "Sombrero"}).json()
    assert answer["name"] == "NGC4594" and answer["source"] == "OpenNGC (offline)"
