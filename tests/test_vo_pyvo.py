"""The IVOA services as astronomers' own tools reach them: pyvo and mocpy against a live server.

Every answer is checked with the client library's reading of it (pyvo's SIA-2, DataLink and
SODA classes, mocpy's MOC reader), and the pixels against ``/api/cutout`` and astropy.
"""

from __future__ import annotations

import io
from urllib.parse import urlencode

import numpy as np
import pytest
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from mocpy import MOC
from pyvo.dal import DALOverflowWarning, DALQueryError, SIA2Query, SIA2Service
from pyvo.dal.adhoc import DatalinkResults

from accounts.tokens import api_token_create
from tests.vo_sky import CENTRE, build_sky

pytestmark = [
    pytest.mark.processes,
    pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning"),
    pytest.mark.filterwarnings("ignore:ERFA function"),  # Time("1950-01-01") is "dubious"
]


@pytest.fixture
def sky(transactional_db, settings):
    settings.DSSPORTAL_ANON_CUTOUT_PER_MINUTE = 1000
    return build_sky()


@pytest.fixture
def token(sky, make_user) -> str:
    return api_token_create(user=make_user("kepler", "kepler@example.org"))[1]


def sia(live_server) -> SIA2Service:
    return SIA2Service(live_server.url + "/vo/sia2")


def api_cutout(live_server, token: str, **params: str) -> fits.PrimaryHDU:
    answer = requests.get(
        live_server.url + "/api/cutout",
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return read_fits(answer.content)


def read_fits(content: bytes) -> fits.PrimaryHDU:
    with fits.open(io.BytesIO(content)) as hdul:
        return fits.PrimaryHDU(hdul[0].data.copy(), hdul[0].header.copy())


def same_file(a: fits.PrimaryHDU, b: fits.PrimaryHDU) -> None:
    np.testing.assert_array_equal(a.data, b.data)
    assert list(a.header) == list(b.header)
    assert [k for k in a.header if k != "DATE" and a.header[k] != b.header[k]] == []


def test_search_by_position_band_time_and_collection(live_server, sky):
    service = sia(live_server)
    here = SkyCoord(*CENTRE, unit="deg")
    everything = service.search(pos=(here, 0.05 * u.deg))
    assert sorted(everything["obs_id"]) == ["B1", "E1", "R1"]
    red = service.search(
        pos=(here, 0.05 * u.deg),
        band=(650 * u.nm, 660 * u.nm),
        time=(Time("1990-01-01"), Time("1991-01-01")),
        collection="DSS2R",
    )
    assert list(red["obs_id"]) == ["R1"]
    row = red[0]
    assert row["obs_collection"] == "DSS2R" and row["dataproduct_type"] == "image"
    assert row["em_min"] == pytest.approx(610e-9) and row["em_max"] == pytest.approx(690e-9)
    assert row["t_min"] == pytest.approx(Time(1990.25, format="decimalyear").mjd, abs=1e-4)
    assert row["t_exptime"] == pytest.approx(3600.0)
    # ObsCore 1.1's mandatory columns: one exposure, one sample in time and wavelength, the
    # resolving power of the 610-690 nm passband (650 / 80), no polarization.
    assert row["t_resolution"] == pytest.approx(3600.0) and row["t_xel"] == 1
    assert row["em_res_power"] == pytest.approx(650 / 80) and row["em_xel"] == 1
    assert np.ma.is_masked(red.to_table()["pol_xel"][0])
    assert bool(row["dss_online"]) and row["s_xel1"] == 1500
    assert row["access_format"] == "application/x-votable+xml;content=datalink"
    assert row["obs_publisher_did"].startswith("ivo://")
    # The blue plate's passband (385-540 nm) and the DSS1 plate's epoch (1953) do not match.
    assert (
        list(
            service.search(
                pos=(here, 0.05 * u.deg), band=(600 * u.nm, 700 * u.nm), collection="DSS2B"
            )["obs_id"]
        )
        == []
    )
    old = service.search(pos=(here, 0.05 * u.deg), time=(Time("1950-01-01"), Time("1960-01-01")))
    assert list(old["obs_id"]) == ["E1"]


def test_columns_carry_obscore_ucds_and_utypes(live_server, sky):
    table = sia(live_server).search(pos=(SkyCoord(*CENTRE, unit="deg"), 0.01 * u.deg))
    fields = {f.name: f for f in table.votable.get_first_table().fields}
    assert fields["s_ra"].ucd == "pos.eq.ra" and fields["s_ra"].unit == u.deg
    assert fields["em_min"].utype == "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit"
    assert fields["obs_publisher_did"].ID == "obs_publisher_did"
    assert fields["s_region"].xtype == "adql:REGION"
    assert fields["access_estsize"].unit == u.kbyte
    for name in (
        "calib_level",
        "obs_collection",
        "s_fov",
        "s_resolution",
        "s_pixel_scale",
        "t_max",
        "facility_name",
        "instrument_name",
        "o_ucd",
        "pol_states",
        "t_resolution",
        "t_xel",
        "em_res_power",
        "em_xel",
        "pol_xel",
    ):
        assert fields[name].ucd and fields[name].utype.startswith("obscore:"), name
    # s_region is the scanned area: it holds the plate's own sky positions of its corners.
    row = next(r for r in table if r["obs_id"] == "R1")
    words = row["s_region"].split()
    assert words[:2] == ["POLYGON", "ICRS"] and len(words[2:]) == 16
    outline = SkyCoord(np.array(words[2::2], float), np.array(words[3::2], float), unit="deg")
    half = 750 * 1.008 / 3600  # 1500 pixels of ~1.008"
    assert np.all(outline.separation(SkyCoord(*CENTRE, unit="deg")).deg < half * 1.5)
    assert np.all(outline.separation(SkyCoord(*CENTRE, unit="deg")).deg > half * 0.9)


def test_datalink_rows_and_a_processed_cutout_equal_api_cutout(live_server, sky, token):
    results = sia(live_server).search(
        pos=(SkyCoord(*CENTRE, unit="deg"), 0.01 * u.deg), collection="DSS2R"
    )
    row = results[0]
    links = row.getdatalink()
    assert [link.semantics for link in links] == ["#this", "#preview", "#cutout"]
    cutout = list(links.bysemantics("#cutout", include_narrower=False))
    assert len(cutout) == 1 and cutout[0].service_def == "soda-sync"
    this = next(links.bysemantics("#this", include_narrower=False))
    whole = requests.get(this.access_url, timeout=30)
    with fits.open(io.BytesIO(whole.content)) as hdul:
        assert isinstance(hdul[1], fits.CompImageHDU) and hdul[1].data.shape == (1500, 1500)
    preview = requests.get(
        next(links.bysemantics("#preview", include_narrower=False)).access_url, timeout=30
    )
    assert preview.headers["Content-Type"] == "image/png" and preview.content[:4] == b"\x89PNG"

    ra, dec, radius = 150.02, 19.99, 0.04
    stream = row.processed(circle=(ra, dec, radius) * u.deg)
    soda = read_fits(stream.read())
    reference = api_cutout(
        live_server, token, POS=f"CIRCLE {ra} {dec} {radius}", SURVEY="DSS2", MODE="R1"
    )
    same_file(soda, reference)
    _ny, nx = soda.data.shape
    assert abs(nx - 2 * radius * 3600 / 1.008) <= 2


def test_iter_datalinks_covers_every_row_and_offline_plates_say_why(live_server, sky):
    results = sia(live_server).search(pos=(SkyCoord(*CENTRE, unit="deg"), 0.05 * u.deg))
    seen = {}
    for links in results.iter_datalinks():
        rows = {r.semantics: r for r in links}  # pyvo's batches keep no order within an ID
        assert sorted(rows) == ["#cutout", "#preview", "#this"]
        assert len({r.id for r in rows.values()}) == 1
        seen[rows["#this"].id] = rows
    assert len(seen) == len(results) == 3
    offline = seen[next(r["obs_publisher_did"] for r in results if r["obs_id"] == "E1")]
    assert "not online" in offline["#this"].error_message and not offline["#this"].get(
        "access_url", decode=True
    )
    # DataLink 1.1's columns: who may follow a link, what it leads to; an error row leads
    # nowhere, so says nothing about access.
    online = next(rows for did, rows in seen.items() if rows is not offline)
    terms = {s: (r["link_auth"], r["link_authorized"]) for s, r in online.items()}
    assert terms == {"#this": ("optional", True), "#preview": ("optional", True),
                     "#cutout": ("optional", True)}  # fmt: skip
    assert {r["content_qualifier"] for r in online.values()} == {"image"}
    # pyvo's records drop the mask of a null boolean: read the table itself.
    offline_links = DatalinkResults.from_result_url(
        live_server.url + "/vo/datalink/links?" + urlencode({"ID": offline["#this"].id})
    ).to_table()
    this_row = offline_links[list(offline_links["semantics"]).index("#this")]
    assert this_row["link_auth"] == "" and np.ma.is_masked(this_row["link_authorized"])


def test_maxrec_zero_gives_the_fields_and_overflow_is_flagged(live_server, sky):
    service = sia(live_server)
    here = (SkyCoord(*CENTRE, unit="deg"), 0.05 * u.deg)
    empty = service.search(pos=here, maxrec=0)
    assert len(empty) == 0 and "obs_publisher_did" in empty.fieldnames
    cut = service.search(pos=here, maxrec=2)
    assert len(cut) == 2 and cut.status[0] == "OVERFLOW"
    exact = service.search(pos=here, maxrec=3)
    assert len(exact) == 3 and exact.status[0] == "OK"
    # A cut the client did not ask for (the server's own limit) is a warning in pyvo.
    query = SIA2Query(live_server.url + "/vo/sia2/query", pos=here)
    query["MAXREC"] = "1"
    with pytest.warns(DALOverflowWarning):
        assert len(query.execute()) == 1


def test_a_bad_pos_is_a_dali_usage_error(live_server, sky):
    query = SIA2Query(live_server.url + "/vo/sia2/query")
    query["POS"] = "CIRCLE 150 20"
    with pytest.raises(DALQueryError, match="CIRCLE takes 3 numbers"):
        query.execute()
    query["POS"] = "RANGE 10 20 30"
    with pytest.raises(DALQueryError, match="RANGE takes 4 numbers"):
        query.execute()


def test_moc_agrees_with_api_plates_at_random_positions(live_server, sky, token):
    online = MOC.from_fits(live_server.url + "/vo/moc/DSS2R.fits")
    catalogued = MOC.from_fits(live_server.url + "/vo/moc/DSS2R.fits?plates=all")
    rng = np.random.default_rng(20)
    checked, inside_seen = 0, 0
    for _ in range(150):
        # Half the draws near the online plate's middle, half anywhere around it.
        spread = 0.12 if _ % 2 else 0.5
        ra = CENTRE[0] + rng.uniform(-spread, spread)
        dec = CENTRE[1] + rng.uniform(-spread, spread)
        answer = requests.get(
            live_server.url + "/api/plates",
            params={"ra": ra, "dec": dec, "width": 12, "height": 12, "survey": "DSS2R"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        plates = answer["surveys"][0]["plates"]
        if any(0 < p["fraction_covered"] < 1 for p in plates):
            continue  # within a MOC cell of a plate edge: either answer is right
        checked += 1
        inside = online.contains_lonlat(ra * u.deg, dec * u.deg)[0]
        assert inside == any(p["field_fits"] and p["online"] for p in plates), (ra, dec)
        inside_seen += bool(inside)
        assert catalogued.contains_lonlat(ra * u.deg, dec * u.deg)[0] == bool(plates)
    assert checked >= 60 and inside_seen >= 20
    far = SkyCoord(206.0, -30.0, unit="deg")
    assert catalogued.contains_skycoords(far)[0] and not online.contains_skycoords(far)[0]


@pytest.mark.parametrize(
    "path, params, api",
    [
        (
            "/cgi-bin/dss_search",
            {
                "v": "poss2ukstu_red",
                "r": "10 00 04.8",
                "d": "+20 00 00",
                "e": "J2000",
                "h": "6",
                "w": "8",
                "f": "fits",
                "c": "none",
            },
            {
                "RA": "150.02",
                "DEC": "20.0",
                "SIZE": f"{8 / 60} {6 / 60}",
                "SURVEY": "DSS2R",
                "ID": "dss_search",
            },
        ),
        (
            "/dss/dss",
            {
                "ra": "150.02",
                "dec": "20",
                "equinox": "J2000",
                "x": "5",
                "y": "5",
                "Sky-Survey": "DSS2-blue",
                "mime-type": "application/x-fits",
            },
            {
                "RA": "150.02",
                "DEC": "20.0",
                "SIZE": f"{5 / 60}",
                "SURVEY": "DSS2B",
                "ID": "eso_dss",
            },
        ),
    ],
)
def test_old_urls_serve_the_api_cutout(live_server, sky, token, path, params, api):
    answer = requests.get(live_server.url + path, params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    same_file(read_fits(answer.content), api_cutout(live_server, token, **api))
