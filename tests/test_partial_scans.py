"""A plate scanned here only in part: its catalogue entry is the whole plate, its pixels are
the scanned part, and every reading says so alike (the request's reason, mode n, the plate
finder page and JSON, the coverage maps). The rest of such a plate was a hole in the
catalogue: a field there was told no plate covers it at all."""

from __future__ import annotations

import json
import re

import pytest
from astropy.coordinates import SkyCoord
from mocpy import MOC

from extraction.core.plates import PlateGeometry
from extraction.services.selection import FieldSkip, FieldTarget, plate_select, plates_table
from tests.factories import dss_header, register_plate

PLATE_CENTRE = (181.0, 10.0)
SCAN = {"corner": (5000, 5000), "naxis": (600, 600)}  # ~2000 px from the plate's centre


@pytest.fixture
def partial(db):
    return register_plate(dss_header(*PLATE_CENTRE, plate_id="0P01", **SCAN), survey="DSS1")


def on_the_scan() -> tuple[float, float]:
    ra, dec = PlateGeometry(dss_header(*PLATE_CENTRE, **SCAN)).pixel_to_sky(300, 300)
    return float(ra), float(dec)


def finder_rows(client, ra: float, dec: float) -> list[dict[str, object]]:
    answer = client.get("/api/plates", {"ra": ra, "dec": dec, "width": 5, "height": 5,
                                        "survey": "DSS1"})  # fmt: skip
    assert answer.status_code == 200, answer.content[:300]
    return answer.json()["surveys"][0]["plates"]


def moc(client, query: str) -> MOC:
    response = client.get("/vo/moc/DSS1.json" + query)
    return MOC.from_json(json.loads(b"".join(response.streaming_content)))


def test_requests_beside_the_scan_are_told_which_plate_and_why(partial) -> None:
    for mode in ("e", "c"):
        with pytest.raises(FieldSkip) as refused:
            plate_select(FieldTarget("DSS1", mode, "", *PLATE_CENTRE, 5.0, 5.0))
        assert "plate 0P01 does, but only part of it is scanned here (600 x 600 of its " in (
            str(refused.value)
        )
    with pytest.raises(FieldSkip, match="plate 0P01 covers the field, but only part of it"):
        plate_select(FieldTarget("DSS1", "plate", "0P01", *PLATE_CENTRE, 5.0, 5.0))
    # On the scan itself it serves, in every mode.
    for mode, plate_id in (("e", ""), ("c", ""), ("plate", "0P01")):
        assert plate_select(FieldTarget("DSS1", mode, plate_id, *on_the_scan(), 2.0, 2.0)).plate
    # Far from the plate nothing covers the field.
    with pytest.raises(FieldSkip, match="no DSS1 plate in this archive covers any part"):
        plate_select(FieldTarget("DSS1", "e", "", 201.0, 10.0, 5.0, 5.0))


def test_mode_n_lists_the_plate_beside_its_scan_as_not_held(partial) -> None:
    beside = plates_table(FieldTarget("DSS1", "n", "", *PLATE_CENTRE, 5.0, 5.0))
    assert "0P01" in beside and "no (only another part is scanned here)" in beside
    on_scan = plates_table(FieldTarget("DSS1", "n", "", *on_the_scan(), 2.0, 2.0))
    assert "0P01" in on_scan and on_scan.rstrip().endswith("yes")


def test_the_finder_lists_the_whole_plate_and_says_where_pixels_are(client, partial) -> None:
    (beside,) = finder_rows(client, *PLATE_CENTRE)
    assert beside["plate_id"] == "0P01" and beside["online"] is False
    assert beside["scanned_here"] == "another part" and beside["field_fits"] is True
    (on_scan,) = finder_rows(client, *on_the_scan())
    assert on_scan["online"] is True and on_scan["scanned_here"] == "this part"
    assert finder_rows(client, 201.0, 10.0) == []
    query = {"lon": "181", "lat": "10", "width": 5, "height": 5, "survey": "DSS1"}
    page = client.get("/plates/", query).content.decode()
    assert "0P01" in page and "another part scanned here" in page
    # The map draws the whole plate open and its scanned square filled.
    outlines = re.findall(r'<polygon points="[^"]*" fill="([^"]*)"[^>]*><title>0P01', page)
    assert sorted(outlines) == ["#f2c14e", "none"]


def test_the_catalogued_map_holds_the_whole_plate_and_the_online_map_the_scan(
    client, partial
) -> None:
    centre, scan = SkyCoord(*PLATE_CENTRE, unit="deg"), SkyCoord(*on_the_scan(), unit="deg")
    online, catalogued = moc(client, ""), moc(client, "?plates=all")
    assert online.contains_skycoords(scan)[0] and not online.contains_skycoords(centre)[0]
    assert catalogued.contains_skycoords(scan)[0] and catalogued.contains_skycoords(centre)[0]
    # The whole DSS1 plate is ~6.6 deg across: its corners are catalogued, 9 deg away is not.
    assert catalogued.contains_skycoords(SkyCoord(183.9, 12.9, unit="deg"))[0]
    assert not catalogued.contains_skycoords(SkyCoord(190.0, 10.0, unit="deg"))[0]
