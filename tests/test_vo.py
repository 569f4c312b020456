"""The IVOA endpoints and the old DSS URLs through Django's test client: parameters, errors,
limits, CORS, the registry record and the coverage maps' rebuilding."""

from __future__ import annotations

import gzip
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import FK4, FK5, SkyCoord
from astropy.io import fits
from astropy.io.votable import parse as parse_votable
from astropy.io.votable import parse_single_table
from astropy.wcs import WCS
from django.test import Client
from mocpy import MOC
from PIL import Image

from accounts.tokens import api_token_create
from extraction.services.obscore import publisher_did
from tests.factories import dss_header, register_plate
from tests.vo_sky import CENTRE, build_sky

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning"),
]

QUERY = "/vo/sia2/query"
SODA = "/vo/soda/sync"


@pytest.fixture
def sky(settings):
    settings.DSSPORTAL_ANON_CUTOUT_PER_MINUTE = 1000
    return build_sky()


def obs_ids(response) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    table = parse_single_table(io.BytesIO(response.content))
    return sorted(str(v) for v in table.array["obs_id"])


def query_status(response) -> tuple[str, str]:
    votable = parse_votable(io.BytesIO(response.content))
    info = next(i for i in votable.resources[0].infos if i.name == "QUERY_STATUS")
    return info.value, info.content or ""


# -- SIA-2 ---------------------------------------------------------------------------------


def test_names_are_case_insensitive_repeats_or_and_post_works(client, sky):
    near = "CIRCLE 150 20 0.05"
    assert obs_ids(client.get(QUERY, {"pos": near, "collection": "dss2r"})) == ["R1"]
    both = client.get(f"{QUERY}?POS={near}&COLLECTION=DSS2R&COLLECTION=DSS2B")
    assert obs_ids(both) == ["B1", "R1"]
    assert obs_ids(client.post(QUERY, {"POS": near, "Collection": "DSS1"})) == ["E1"]
    # A survey of several bands names them all; DSS2R still names red only.
    assert obs_ids(client.get(QUERY, {"pos": near, "collection": "dss2"})) == ["B1", "R1"]
    two_places = client.get(QUERY, {"POS": [near, "CIRCLE 206 -30 0.1"]})
    assert obs_ids(two_places) == ["B1", "E1", "F1", "R1"]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"POS": "RANGE 149.9 150.1 19.9 20.1"}, ["B1", "E1", "R1"]),
        ({"POS": "RANGE 205 +inf -inf +inf"}, ["F1", "F2"]),
        ({"POS": "RANGE 0 360 -31 -29"}, ["F0", "F1", "F2"]),
        ({"POS": "POLYGON 150.3 19.8 150.5 19.8 150.4 20.0"}, ["E1"]),
        ({"POS": "POLYGON 149.99 19.99 150.01 19.99 150.0 20.01"}, ["B1", "E1", "R1"]),
        ({"POS": "CIRCLE 150.0 20.0 0"}, ["B1", "E1", "R1"]),
        ({"POS": "CIRCLE 149.9 19.9 0", "FORMAT": "image/fits"}, ["E1", "R1"]),
        ({"POS": "CIRCLE 150.0 20.0 0", "FORMAT": "image/jpeg"}, []),
        ({"POS": "CIRCLE 150 20 0.01", "CALIB": "1", "DPTYPE": "image"}, ["B1", "E1", "R1"]),
        ({"POS": "CIRCLE 150 20 0.01", "CALIB": "2"}, []),
        ({"POS": "CIRCLE 150 20 0.01", "INSTRUMENT": "IIIaJ/GG385"}, ["B1"]),
        ({"POS": "CIRCLE 150 20 0.01", "FACILITY": "Palomar 48-inch Schmidt"}, ["E1"]),
        ({"POS": "CIRCLE 150 20 0.01", "TARGET": "xp123"}, ["R1"]),
        ({"POS": "CIRCLE 150 20 0.01", "EXPTIME": "3500 3700"}, ["R1"]),
        ({"POS": "CIRCLE 150 20 0.01", "FOV": "6 +inf"}, ["E1"]),
        ({"POS": "CIRCLE 150 20 0.01", "BAND": "5e-7"}, ["B1"]),
        ({"POS": "CIRCLE 150 20 0.01", "TIME": "-inf 40000"}, ["E1"]),
        ({"POS": "CIRCLE 150 20 0.01", "POL": "I"}, []),
        ({"ID": "ivo://127.0.0.1/dss?DSS2/B1"}, ["B1"]),
    ],
)
def test_each_parameter_selects(client, sky, params, expected):
    assert obs_ids(client.get(QUERY, params)) == expected


@pytest.mark.parametrize(
    "params, words",
    [
        ({"POS": "CIRCLE 150 20"}, "CIRCLE takes 3 numbers"),
        ({"POS": "CIRCLE 150 95 1"}, "-90 <= dec <= 90"),
        ({"POS": "BOX 1 2 3 4"}, "POS must be CIRCLE"),
        ({"POS": "POLYGON 1 2 3 4"}, "at least 3 vertices"),
        ({"POS": "CIRCLE nan 2 1"}, "finite"),
        ({"BAND": "7e-7 5e-7"}, "low end"),
        ({"TIME": "1991-08-23"}, "TIME (MJD, UTC days) must be a number, not '1991-08-23'"),
        ({"BAND": "red"}, "BAND (metres of vacuum wavelength) must be a number"),
        ({"MAXREC": "-1"}, "MAXREC must be a whole number 0 or more, not '-1'"),
        ({"CALIB": "high"}, "CALIB"),
        ({"RESPONSEFORMAT": "text/csv"}, "VOTable"),
    ],
)
def test_errors_are_dali_documents(client, sky, params, words):
    response = client.get(QUERY, params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/x-votable+xml"
    status, text = query_status(response)
    assert status == "ERROR" and text.startswith("UsageError: ") and words in text


def test_a_maxrec_above_the_services_limit_is_the_limit(client, sky):
    for huge in ("20001", "99999999999999999999999"):
        response = client.get(QUERY, {"POS": "RANGE 0 360 -31 -29", "MAXREC": huge})
        assert response.status_code == 200 and query_status(response)[0] == "OK"


def test_maxrec_and_overflow_status(client, sky):
    assert query_status(client.get(QUERY, {"POS": "RANGE 0 360 -31 -29", "MAXREC": "2"}))[0] == (
        "OVERFLOW"
    )
    empty = client.get(QUERY, {"MAXREC": "0"})
    assert obs_ids(empty) == [] and query_status(empty)[0] == "OVERFLOW"
    table = parse_single_table(io.BytesIO(empty.content))
    assert "s_region" in [f.name for f in table.fields]


def test_vosi_documents_are_anonymous_and_say_sia2(client):
    caps = ET.fromstring(client.get("/vo/sia2/capabilities").content)
    sia = [
        c
        for c in caps.iter("capability")
        if c.get("standardID") == "ivo://ivoa.net/std/SIA#query-2.0"
    ]
    assert len(sia) == 1 and not list(sia[0].iter("securityMethod"))
    assert sia[0].find("interface/accessURL").text.endswith("/vo/sia2/query")
    available = ET.fromstring(client.get("/vo/sia2/availability").content)
    assert available.find("{http://www.ivoa.net/xml/VOSIAvailability/v1.0}available").text == (
        "true"
    )


def test_registry_record(client, settings):
    settings.DSSPORTAL_IVO_AUTHORITY = "dss.example.org"
    record = ET.fromstring(client.get("/vo/registry.xml").content)
    assert record.find("identifier").text == "ivo://dss.example.org/dss"
    standards = {c.get("standardID") for c in record.iter("capability")}
    assert {
        "ivo://ivoa.net/std/SIA#query-2.0",
        "ivo://ivoa.net/std/SODA#sync-1.0",
        "ivo://ivoa.net/std/DataLink#links-1.1",
    } <= standards
    xsi = "{http://www.w3.org/2001/XMLSchema-instance}type"
    assert record.get(xsi) == "vs:CatalogService" and record.find("curation/contact/email").text


# -- DataLink ------------------------------------------------------------------------------


def test_a_post_batch_answers_every_id_in_order(client, sky):
    ids = [publisher_did("DSS2", "R1"), publisher_did("DSS1", "E1"), "ivo://elsewhere/x?y"] * 17
    response = client.post("/vo/datalink/links", {"ID": ids})
    table = parse_single_table(io.BytesIO(response.content)).array
    assert response.status_code == 200 and len(table) == 17 * 7
    assert list(table["ID"][:7]) == [ids[0]] * 3 + [ids[1]] * 3 + [ids[2]]
    assert "not an identifier of this archive" in table["error_message"][6]
    too_many = client.post("/vo/datalink/links", {"ID": ids * 10})
    assert too_many.status_code == 400 and "batches" in query_status(too_many)[1]


# -- SODA ----------------------------------------------------------------------------------


def soda(client: Client, **params: str):
    return client.get(SODA, {"ID": publisher_did("DSS2", "R1"), **params})


@pytest.mark.parametrize(
    "params, status, words",
    [
        ({}, 400, "exactly one of CIRCLE"),
        ({"CIRCLE": "150 20 0.01", "POS": "CIRCLE 150 20 0.01"}, 400, "exactly one"),
        ({"CIRCLE": "150 20"}, 400, "CIRCLE takes 3 numbers"),
        ({"POLYGON": "150 20 151"}, 400, "POLYGON takes pairs"),
        ({"CIRCLE": "150 20 1"}, 400, "at most 30'"),
        ({"CIRCLE": "160 20 0.01"}, 404, "does not cover"),
        ({"CIRCLE": "150 20 0.01", "RESPONSEFORMAT": "text/html"}, 400, "RESPONSEFORMAT"),
        ({"ID": "ivo://127.0.0.1/dss?DSS2/ZZ9", "CIRCLE": "150 20 0.01"}, 404, "no plate"),
        ({"ID": publisher_did("DSS1", "E1"), "CIRCLE": "150 20 0.01"}, 404, "not online"),
    ],
)
def test_soda_errors_are_plain_text(client, sky, params, status, words):
    response = soda(client, **params)
    assert (
        response.status_code == status and response["Content-Type"] == "text/plain; charset=utf-8"
    )
    prefix = "NotFoundFault: " if status == 404 else "UsageError: "
    assert response.content.decode().startswith(prefix) and words in response.content.decode()


def test_soda_shapes_and_png(client, sky):
    circle = soda(client, CIRCLE="150 20 0.02")
    pos = soda(client, POS="CIRCLE 150 20 0.02")
    assert circle.status_code == 200 and circle["Access-Control-Allow-Origin"] == "*"
    a, b = (fits.getdata(io.BytesIO(r.content)) for r in (circle, pos))
    np.testing.assert_array_equal(a, b)
    polygon = soda(client, POLYGON="149.98 19.98 150.02 19.98 150.02 20.02 149.98 20.02")
    box = fits.getheader(io.BytesIO(polygon.content))
    # 0.04 deg of RA at dec 20 is 0.0376 deg on the sky: 2.26' wide, 2.4' high.
    assert box["NAXIS1"] == pytest.approx(0.04 * np.cos(np.radians(20)) * 3600 / 1.008, abs=2)
    assert box["NAXIS2"] == pytest.approx(0.04 * 3600 / 1.008, abs=2)
    png = soda(client, CIRCLE="150 20 0.02", RESPONSEFORMAT="image/png")
    assert png["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (a.shape[1], a.shape[0])


def test_anonymous_limits_per_address_and_a_token_raises_them(client, sky, settings, make_user):
    settings.DSSPORTAL_ANON_CUTOUT_PER_MINUTE = 2
    assert [soda(client, CIRCLE="150 20 0.01").status_code for _ in range(2)] == [200, 200]
    limited = soda(client, CIRCLE="150 20 0.01")
    assert limited.status_code == 429 and 0 < int(limited["Retry-After"]) <= 60
    assert (
        limited.content.decode().startswith("RateLimited: ") and "token" in limited.content.decode()
    )
    assert client.get("/vo/plate/DSS2/R1.fits").status_code == 429  # a whole plate counts too
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert (
        other.get(SODA, {"ID": publisher_did("DSS2", "R1"), "CIRCLE": "150 20 0.01"}).status_code
        == 200
    )
    raw = api_token_create(user=make_user("tycho", "tycho@example.org"))[1]
    with_token = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = with_token.get(SODA, {"ID": publisher_did("DSS2", "R1"), "CIRCLE": "150 20 0.01"})
    assert answer.status_code == 200
    bad = Client(HTTP_AUTHORIZATION="Bearer dss_nonsense")
    refused = bad.get(SODA, {"ID": publisher_did("DSS2", "R1"), "CIRCLE": "150 20 0.01"})
    assert refused.status_code == 401 and refused["Content-Type"] == "text/plain; charset=utf-8"


# -- CORS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/vo/sia2/capabilities",
        "/vo/sia2/query?MAXREC=0",
        "/vo/moc/DSS1.json",
        "/vo/registry.xml",
        "/cgi-bin/dss_search?v=quickv&r=1&d=1",
    ],
)
def test_anonymous_gets_allow_any_origin(client, path):
    response = client.get(path, HTTP_ORIGIN="https://aladin.example.net")
    assert response["Access-Control-Allow-Origin"] == "*"
    preflight = client.options(path.split("?")[0], HTTP_ORIGIN="https://aladin.example.net")
    assert preflight.status_code == 204 and "GET" in preflight["Access-Control-Allow-Methods"]


def test_cookie_pages_still_refuse_cross_site_writes(make_user, sky):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_user("galle", "galle@example.org"))
    posted = browser.post("/requests/", {"text": "x"}, HTTP_ORIGIN="https://evil.example")
    assert posted.status_code == 403 and "Access-Control-Allow-Origin" not in posted
    api = browser.get("/api/requests", HTTP_SEC_FETCH_SITE="cross-site")
    assert api.status_code == 403 and "Access-Control-Allow-Origin" not in api


# -- The old URLs ---------------------------------------------------------------------------


def header_of(response) -> fits.Header:
    assert response.status_code == 200, response.content[:300]
    return fits.getheader(io.BytesIO(response.content))


def test_stsci_defaults_forms_and_b1950(client, sky):
    base = {"v": "poss2ukstu_red", "r": "10 00 00", "d": "+20 00 00"}
    default = header_of(client.get("/cgi-bin/dss_search", base))
    assert default["NAXIS1"] == pytest.approx(15 * 60 / 1.008, abs=2)  # 15' by default
    decimal = header_of(client.get("/cgi-bin/dss_search", {**base, "r": "150", "d": "20"}))
    colons = header_of(
        client.get("/cgi-bin/dss_search", {**base, "ra": "10:00:00", "dec": "20:00:00", "r": ""})
    )
    assert decimal["CNPIX1"] == default["CNPIX1"] == colons["CNPIX1"]
    fk5 = SkyCoord(150 * u.deg, 20 * u.deg, frame=FK5(equinox="J2000"))
    fk4 = fk5.transform_to(FK4(equinox="B1950", obstime="B1950"))
    r, d = fk4.ra.to_string(u.hour, sep=" ", precision=3), fk4.dec.to_string(sep=" ", precision=2)
    old = header_of(client.get("/cgi-bin/dss_search", {**base, "r": r, "d": d, "e": "B1950"}))
    # The same field centre on the plate (OBJCTX/Y: plate pixels) to within 0.02".
    assert old["OBJCTX"] == pytest.approx(default["OBJCTX"], abs=0.02)
    assert old["OBJCTY"] == pytest.approx(default["OBJCTY"], abs=0.02)
    packed = client.get("/cgi-bin/dss_search", {**base, "c": "gz", "h": "3", "w": "3"})
    assert packed["Content-Type"] == "application/gzip"
    assert fits.getheader(io.BytesIO(gzip.decompress(packed.content)))["NAXIS1"] == 179
    gif = client.get("/cgi-bin/dss_search", {**base, "f": "GIF", "h": "3", "w": "3"})
    assert (
        gif["Content-Type"] == "image/gif" and Image.open(io.BytesIO(gif.content)).format == "GIF"
    )


@pytest.mark.parametrize(
    "path, params, status, words",
    [
        ("/cgi-bin/dss_search", {"v": "quickv", "r": "150", "d": "20"}, 404, "Quick-V"),
        ("/cgi-bin/dss_search", {"v": "poss1_blue", "r": "150", "d": "20"}, 404, "POSS-I O"),
        ("/cgi-bin/dss_search", {"v": "phase2_gsc2", "r": "150", "d": "20"}, 404, "not held"),
        ("/cgi-bin/dss_search", {"v": "dss9", "r": "150", "d": "20"}, 400, "unknown survey"),
        ("/cgi-bin/dss_search", {"r": "150"}, 400, "give the position"),
        ("/cgi-bin/dss_search", {"v": "2", "r": "25 00 00", "d": "20"}, 400, "R.A."),
        ("/cgi-bin/dss_search", {"v": "2", "r": "150", "d": "20", "c": "unix"}, 400, "c=unix"),
        ("/cgi-bin/dss_search", {"v": "2", "r": "150", "d": "20", "h": "45"}, 400, "30'"),
        ("/cgi-bin/dss_search", {"v": "2", "r": "150", "d": "20", "e": "B1900"}, 400, "equinox"),
        ("/dss/dss", {"ra": "150", "dec": "20", "Sky-Survey": "POSS-I-O"}, 404, "not held"),
        ("/dss/dss", {"ra": "150", "dec": "20", "mime-type": "text/html"}, 400, "mime-type"),
        ("/dss/dss", {"ra": "150", "dec": "20", "Sky-Survey": "DSS1"}, 404, "not online"),
        ("/dss/dss", {"ra": "10 00 00", "dec": "91 00 00"}, 400, "Dec"),
    ],
)
def test_old_urls_refuse_clearly(client, sky, path, params, status, words):
    response = client.get(path, params)
    assert (
        response.status_code == status and response["Content-Type"] == "text/plain; charset=utf-8"
    )
    assert words in response.content.decode()


def test_eso_defaults_and_formats(client, sky):
    base = {"ra": "10 00 00", "dec": "+20 00 00", "Sky-Survey": "DSS2-red"}
    plain = client.get("/dss/dss", base)
    assert header_of(plain)["NAXIS1"] == pytest.approx(5 * 60 / 1.008, abs=2)  # 5' by default
    packed = client.get("/dss/dss", {**base, "mime-type": "display/gz-fits"})
    assert gzip.decompress(packed.content)[:80] == plain.content[:80]
    jpeg = client.get("/dss/dss", {**base, "mime-type": "image/jpeg"})
    assert Image.open(io.BytesIO(jpeg.content)).format == "JPEG"


def test_eso_urls_as_scripts_call_them(client, sky):
    """The forms scripts written for ESO's service send: the path /dss/dss/image, the
    download-* mime types (saved, not shown), short survey names, units=arcmin and statsmode,
    and an empty name beside the position."""
    base = {"ra": "10 00 00", "dec": "+20 00 00", "Sky-Survey": "DSS2-red"}
    form = client.get("/dss/dss", base)
    scripted = {**base, "units": "arcmin", "statsmode": "VO", "name": "", "equinox": "J2000"}
    for survey in ("2r", "DSS2"):
        saved = client.get(
            "/dss/dss/image", {**scripted, "Sky-Survey": survey, "mime-type": "download-fits"}
        )
        assert saved["Content-Disposition"].startswith("attachment;")
        assert saved["X-DSS-Plate"] == form["X-DSS-Plate"] == "R1"
        assert fits.getdata(io.BytesIO(saved.content)).tobytes() == (
            fits.getdata(io.BytesIO(form.content)).tobytes()
        )
    assert form["Content-Disposition"].startswith("inline;")
    packed = client.get("/dss/dss/image", {**scripted, "mime-type": "download-gz-fits"})
    assert gzip.decompress(packed.content)[:2880] == form.content[:2880]
    gif = client.get("/dss/dss/image", {**scripted, "mime-type": "download-gif"})
    assert Image.open(io.BytesIO(gif.content)).format == "GIF"
    assert gif["Content-Disposition"].startswith("attachment;")
    wrong_units = client.get("/dss/dss/image", {**scripted, "units": "degrees"})
    assert wrong_units.status_code == 400 and "units must be arcmin" in wrong_units.content.decode()


def test_eso_name_in_place_of_the_position_is_resolved(client, sky):
    # M 31 as SIMBAD gives it (00 42 44.330 +41 16 07.50), not through our resolver.
    m31 = SkyCoord("00h42m44.330s", "+41d16m07.50s", frame="icrs")
    register_plate(
        dss_header(m31.ra.deg, m31.dec.deg, survey="DSS2", plate_id="M31", corner=(11220, 11220)),
        survey="DSS2",
        band="R",
    )
    asked = {"name": "M 31", "x": "3", "y": "3", "Sky-Survey": "DSS2-red", "ra": "", "dec": ""}
    answer = client.get("/dss/dss/image", asked)
    header = header_of(answer)
    assert answer["X-DSS-Plate"] == "M31"
    centre = WCS(header).pixel_to_world((header["NAXIS1"] - 1) / 2, (header["NAXIS2"] - 1) / 2)
    assert centre.separation(m31).arcsec < 3  # within a DSS2 pixel or two of the request
    unknown = client.get("/dss/dss/image", {**asked, "name": "No Such Galaxy"})
    assert unknown.status_code == 404 and unknown["Content-Type"] == "text/plain; charset=utf-8"
    assert "give the position instead" in unknown.content.decode()
    overlong = client.get("/dss/dss/image", {**asked, "name": "A" * 500})
    assert overlong.status_code == 400 and "at most 80 characters" in overlong.content.decode()


def test_poss1_red_serves_only_red_plates(client, sky):
    blue = register_plate(
        dss_header(
            160.0, 20.0, survey="DSS1", plate_id="J9", corner=(6700, 6700), naxis=(600, 600)
        ),
        survey="DSS1",
        band="B",
    )
    asked = {"r": str(blue.ra_deg), "d": str(blue.dec_deg), "h": "3", "w": "3"}
    assert client.get("/cgi-bin/dss_search", {**asked, "v": "1"}).status_code == 200
    red_only = client.get("/cgi-bin/dss_search", {**asked, "v": "poss1_red"})
    assert red_only.status_code == 404 and "band R" in red_only.content.decode()


# -- Coverage maps -------------------------------------------------------------------------


def moc_of(client: Client, path: str, tmp_path) -> MOC:
    response = client.get(path)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    if path.split("?")[0].endswith(".json"):
        return MOC.from_json({k: v for k, v in json.loads(body).items()})
    with fits.open(io.BytesIO(body)) as hdul:
        assert hdul[1].header["MOCORD_S"] == 10 and hdul[1].header["MOCVERS"] == "2.0"
    on_disk = tmp_path / "map.fits"
    on_disk.write_bytes(body)
    return MOC.from_fits(on_disk)


def test_maps_are_rebuilt_when_plates_are_imported(client, sky, tmp_path):
    here, elsewhere = SkyCoord(*CENTRE, unit="deg"), SkyCoord(40.0, -10.0, unit="deg")
    before = moc_of(client, "/vo/moc/DSS2R.fits", tmp_path)
    assert before.contains_skycoords(here)[0] and not before.contains_skycoords(elsewhere)[0]
    register_plate(
        dss_header(40.0, -10.0, survey="DSS2", plate_id="N7", corner=(11220, 11220)),
        survey="DSS2",
        band="R",
    )
    after = moc_of(client, "/vo/moc/DSS2R.json", tmp_path)
    assert after.contains_skycoords(elsewhere)[0] and after.contains_skycoords(here)[0]
    blue = moc_of(client, "/vo/moc/dss2b.json", tmp_path)
    assert not blue.contains_skycoords(elsewhere)[0]
    # DSS2 as a whole: the union of its bands' maps, cell for cell, a blue plate alone too.
    blue_only = SkyCoord(60.0, 10.0, unit="deg")
    register_plate(
        dss_header(60.0, 10.0, survey="DSS2", plate_id="N8", corner=(11220, 11220)),
        survey="DSS2",
        band="B",
    )
    dss2 = moc_of(client, "/vo/moc/DSS2.json", tmp_path)
    bands = [moc_of(client, f"/vo/moc/DSS2{b}.json", tmp_path) for b in "RBI"]
    assert dss2 == bands[0].union(*bands[1:])
    assert dss2.contains_skycoords(blue_only)[0] and dss2.contains_skycoords(elsewhere)[0]
    assert not bands[0].contains_skycoords(blue_only)[0]
    assert client.get("/vo/moc/DSS3.fits").status_code == 404
    assert client.get("/vo/moc/DSS2R.fits?plates=some").status_code == 400


def test_the_plate_finder_links_the_maps(client, make_user):
    client.force_login(make_user())
    page = client.get("/plates/").content.decode()
    for survey in ("DSS1", "DSS2R", "DSS2B", "DSS2I", "DSS2"):
        assert f'href="/vo/moc/{survey}.fits"' in page


def test_import_plates_rebuilds_the_maps_at_once(settings, tmp_path):
    from django.core.management import call_command

    from tests.factories import REAL_DSS

    out = io.StringIO()
    call_command("import_plates", REAL_DSS, "--survey", "DSS1", stdout=out)
    assert "Coverage maps rebuilt (20 files)" in out.getvalue()
    written = sorted(p.name for p in (settings.DATA_DIR / "moc").iterdir())
    assert len(written) == 20 and any(n.startswith("DSS1-online-") for n in written)
    dss1 = MOC.from_fits(next((settings.DATA_DIR / "moc").glob("DSS1-online-*.fits")))
    assert dss1.contains_skycoords(SkyCoord("14h29m56s -62d41m05s"))[0]


@pytest.mark.django_db(transaction=True)
def test_footprints_are_stored_while_a_worker_writes(client, monkeypatch):
    """The first SIA-2 query computes and stores missing footprints. Another process writing
    to the plate table meanwhile (a second connection, after the first footprint computed)
    must neither fail the query nor lose a footprint. More than a thousand plates: reading
    them in chunks kept a read open on SQLite, and the footprint's write then failed at once
    ("database is locked"), as the first SIA-2 query of ``make run`` did."""
    import threading

    from django.db import connections
    from django.forms.models import model_to_dict

    from extraction.models import Plate
    from extraction.services import obscore

    sky = build_sky()
    obscore.plate_footprint(sky.red)  # stored: the fillers below carry it, computed already
    row = {**model_to_dict(sky.red, exclude=["id"]), "footprint": sky.red.footprint}
    Plate.objects.bulk_create(
        Plate(**{**row, "plate_id": f"Z{n:04d}", "online": False, "data_file": ""})
        for n in range(1100)
    )
    Plate.objects.exclude(plate_id__startswith="Z").update(footprint=None)
    computed = obscore.scanned_footprint
    wrote = []

    def footprint_then_a_write_elsewhere(geometry):
        if not wrote:

            def write() -> None:
                Plate.objects.filter(pk=sky.dss1.pk).update(label="touched")
                connections.close_all()

            writer = threading.Thread(target=write)
            writer.start()
            writer.join()
            wrote.append(True)
        return computed(geometry)

    monkeypatch.setattr(obscore, "scanned_footprint", footprint_then_a_write_elsewhere)
    ra, dec = CENTRE
    response = client.get(QUERY, {"POS": f"CIRCLE {ra} {dec} 0.2"})
    assert response.status_code == 200, response.content[:300]
    assert wrote and "R1" in obs_ids(response)
    assert not Plate.objects.filter(footprint__isnull=True).exists()


def test_footprints_stored_ahead_spare_the_first_query(client, monkeypatch):
    """What ``prepare_demo`` does for ``make run``: every footprint stored before the first
    SIA-2 query, which then computes none."""
    from extraction.models import Plate
    from extraction.services import obscore

    build_sky()
    Plate.objects.update(footprint=None)
    missing = obscore.plates_without_footprint()
    assert len(missing) == Plate.objects.count() > 3
    ticks = []
    obscore.footprints_store(missing, progress=ticks.append)
    assert ticks == [1] * len(missing) and obscore.plates_without_footprint() == []

    def computed_again(geometry):
        raise AssertionError("a footprint computed in the query")

    monkeypatch.setattr(obscore, "scanned_footprint", computed_again)
    ra, dec = CENTRE
    assert "R1" in obs_ids(client.get(QUERY, {"POS": f"CIRCLE {ra} {dec} 0.2"}))
