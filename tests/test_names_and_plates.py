"""Offline name resolution (OpenNGC) and the plate finder, as services and through the API."""

from __future__ import annotations

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from django.urls import reverse

from extraction.core.surveys import SURVEYS
from extraction.services.names import NameNotFound, name_resolve
from extraction.services.platefinder import FinderInputError, plates_covering
from tests.factories import dss_header, register_plate

# SIMBAD positions (J2000), an independent reference for OpenNGC's.
SIMBAD = {
    "NGC 253": ("00 47 33.13 -25 17 19.7", 5),
    "ngc253": ("00 47 33.13 -25 17 19.7", 5),
    "M 31": ("00 42 44.33 +41 16 07.5", 5),
    "m31": ("00 42 44.33 +41 16 07.5", 5),
    "IC 434": ("05 41 00.9 -02 27 14", 30),
    "Orion Nebula": ("05 35 17.3 -05 23 28", 30),
    "andromeda  galaxy": ("00 42 44.33 +41 16 07.5", 5),
    "Pleiades": ("03 47 24 +24 07 00", 120),
}


@pytest.mark.parametrize("name", sorted(SIMBAD))
def test_names_resolve_offline_to_simbad_positions(name):
    found = name_resolve(name=name)
    expected, tolerance_arcsec = SIMBAD[name]
    reference = SkyCoord(expected, unit=(u.hourangle, u.deg))
    separation = reference.separation(SkyCoord(found.ra_deg * u.deg, found.dec_deg * u.deg))
    assert separation.arcsec < tolerance_arcsec


def test_messier_and_common_names_are_reported():
    found = name_resolve(name="M 42")
    assert found.name == "NGC1976" and found.messier == "M42"
    assert "Orion Nebula" in found.common_names


@pytest.mark.parametrize("name", ["", "   ", "NGC 99999", "Vulcan", "x" * 500, "\ud800", "M31\x00"])
def test_unknown_names_say_so(name):
    with pytest.raises(NameNotFound) as caught:
        name_resolve(name=name)
    message = str(caught.value)
    assert message and message.isprintable()


@pytest.fixture
def dss2_plates(db):
    """Two online DSS2 red plates 5 deg apart, and one offline DSS2 blue plate, 1200 px
    digitized around each plate centre."""
    half = SURVEYS["DSS2"].plate_size_px // 2
    corner = (half - 600, half - 600)

    def plate(ra, dec, plate_id, band, online=True):
        header = dss_header(
            ra, dec, survey="DSS2", plate_id=plate_id, corner=corner, naxis=(1200, 1200)
        )
        return register_plate(header, survey="DSS2", band=band, online=online)

    return {
        "A": plate(150.0, 2.0, "0A01", "R"),
        "A2": plate(150.05, 2.0, "0A02", "R"),
        "B": plate(150.0, 2.0, "0B01", "B", online=False),
    }


def test_the_finder_groups_plates_by_survey_and_band(dss2_plates):
    groups = {
        g.survey: g
        for g in plates_covering(ra_deg=150.0, dec_deg=2.0, width_arcmin=5, height_arcmin=5)
    }
    assert list(groups) == ["DSS1", "DSS2R", "DSS2B", "DSS2I"]
    assert groups["DSS1"].plates == [] and groups["DSS2I"].plates == []
    red = groups["DSS2R"].plates
    assert [p.plate.plate_id for p in red] == ["0A01", "0A02"]  # nearest centre first
    first, second = red
    assert first.fits and first.coverage.distance_deg == pytest.approx(0.0, abs=1e-6)
    reference = SkyCoord(150.0 * u.deg, 2.0 * u.deg).separation(
        SkyCoord(150.05 * u.deg, 2.0 * u.deg)
    )
    assert second.coverage.distance_deg == pytest.approx(reference.deg, rel=1e-6)
    # 1200 px of ~1"/px around the centre: a 5' field centred there has ~7.5' to each edge.
    assert first.coverage.margin_arcmin == pytest.approx(7.5, abs=0.3)
    blue = groups["DSS2B"].plates
    assert [p.plate.plate_id for p in blue] == ["0B01"] and not blue[0].plate.online


def test_a_field_larger_than_the_scan_does_not_fit(dss2_plates):
    (group,) = plates_covering(
        ra_deg=150.0, dec_deg=2.0, width_arcmin=30, height_arcmin=30, surveys=("DSS2R",)
    )
    assert group.plates and not any(p.fits for p in group.plates)
    assert all(0 < p.coverage.fraction < 1 for p in group.plates)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ra_deg": 360.0},
        {"dec_deg": 91.0},
        {"width_arcmin": 0.0},
        {"height_arcmin": 1e9},
        {"ra_deg": float("nan")},
        {"surveys": ("DSS3",)},
    ],
)
def test_the_finder_refuses_impossible_fields(db, kwargs):
    args = {"ra_deg": 10.0, "dec_deg": 0.0, "width_arcmin": 5.0, "height_arcmin": 5.0, **kwargs}
    with pytest.raises(FinderInputError):
        plates_covering(**args)


# -- Through the API ----------------------------------------------------------------------


@pytest.fixture
def api_client(client, make_user):
    client.force_login(make_user("hubble", "edwin@example.org"))
    return client


def test_api_resolve(api_client):
    body = api_client.get(reverse("api-resolve"), {"name": "NGC 253"}).json()
    assert body["name"] == "NGC0253" and body["ra_deg"] == pytest.approx(11.888, abs=1e-3)
    missing = api_client.get(reverse("api-resolve"), {"name": "Vulcan"})
    assert missing.status_code == 404 and "not known to OpenNGC" in missing.json()["error"]
    empty = api_client.get(reverse("api-resolve"))
    assert empty.status_code == 400 and "object name" in empty.json()["error"]


def test_api_plates(api_client, dss2_plates):
    response = api_client.get(
        reverse("api-plates"), {"ra": "150", "dec": "2", "width": "5", "height": "5"}
    )
    assert response.status_code == 200
    groups = {g["survey"]: g for g in response.json()["surveys"]}
    red = groups["DSS2R"]
    assert red["n_plates"] == 2 and red["n_fit"] == 2
    assert red["plates"][0]["plate_id"] == "0A01" and red["plates"][0]["online"] is True
    assert groups["DSS2B"]["plates"][0]["online"] is False
    only = api_client.get(
        reverse("api-plates"), {"ra": "150", "dec": "2", "survey": "dss2b"}
    ).json()
    assert [g["survey"] for g in only["surveys"]] == ["DSS2B"]


@pytest.mark.parametrize(
    "query, words",
    [
        ({"dec": "2"}, "give ra"),
        ({"ra": "abc", "dec": "2"}, "decimal number"),
        ({"ra": "nan", "dec": "2"}, "finite"),
        ({"ra": "1" * 5000, "dec": "2"}, "decimal number"),
        ({"ra": "10", "dec": "95"}, "Dec"),
        ({"ra": "10", "dec": "2", "survey": "POSS"}, "unknown survey"),
        ({"ra": "10", "dec": "2", "width": "-1"}, "width"),
    ],
)
def test_api_plates_bad_input_is_a_json_400(api_client, query, words):
    response = api_client.get(reverse("api-plates"), query)
    assert response.status_code == 400 and words in response.json()["error"]
