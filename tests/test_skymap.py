"""The admin's sky map: plate outlines agree with the plate solution they summarise."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from extraction.core.plates import PlateGeometry, angular_distance_deg
from extraction.pictures.skymap import PlateOutline, field_map_svg, outline_radec, sky_map_svg
from tests.factories import dss_header


@pytest.mark.parametrize(("ra", "dec"), [(10.0, -25.0), (359.0, 60.0), (180.0, 88.0)])
def test_outline_corners_agree_with_the_plate_wcs(ra: float, dec: float) -> None:
    header = dss_header(ra, dec, naxis=(14000, 14000), distortion=False)
    geometry = PlateGeometry(header)
    outline = PlateOutline(
        "0001", ra, dec, geometry.nominal_scale_arcsec, 0, 0, 14000, 14000, 14000, True
    )
    points = outline_radec(outline, points_per_side=1)  # the four corners, in order
    corners_x = np.array([0, 14000, 14000, 0]) - 0.5
    corners_y = np.array([0, 0, 14000, 14000]) - 0.5
    ra_ref, dec_ref = geometry.pixel_to_sky(corners_x, corners_y)
    offsets = angular_distance_deg(points[:, 0], points[:, 1], ra_ref, dec_ref)
    assert offsets.max() * 60 < 1.0  # arcmin


def _path_points(d: str) -> list[tuple[int, int]]:
    """The absolute points of an outline path ``M x y l dx dy ... z``."""
    start, moves = d[1:].rstrip("z").split("l")
    x, y = (int(v) for v in start.split())
    steps = [int(v) for v in moves.split()]
    points = [(x, y)]
    for dx, dy in zip(steps[::2], steps[1::2], strict=True):
        x, y = x + dx, y + dy
        points.append((x, y))
    return points


def test_svg_is_well_formed_and_marks_online_plates() -> None:
    import xml.etree.ElementTree as ET

    outlines = [
        PlateOutline("0A", 0.5, 0.0, 1.7, 0, 0, 14000, 14000, 14000, True),
        PlateOutline("0B", 200.0, -40.0, 1.7, 0, 0, 14000, 14000, 14000, False),
    ]
    root = ET.fromstring(sky_map_svg(outlines, title="t"))
    paths = list(root.iter("{http://www.w3.org/2000/svg}path"))
    assert [p.get("class") for p in paths] == ["on", "off"]
    xs = [x for x, _y in _path_points(paths[0].get("d"))]
    assert max(xs) - min(xs) < 100  # the plate at RA 0 is not smeared across the map


def test_sky_map_outlines_agree_with_the_outline_corners_and_are_clipped_to_the_map() -> None:
    """Each path is the outline (to a map pixel) and the group of paths is clipped."""
    import xml.etree.ElementTree as ET

    plate = PlateOutline("0C", 120.0, 30.0, 1.7, 0, 0, 14000, 14000, 14000, True)
    root = ET.fromstring(sky_map_svg([plate], width=1080, title="t"))
    (path,) = root.iter("{http://www.w3.org/2000/svg}path")
    corners = outline_radec(plate, points_per_side=3)
    expected = [(round((360 - r) * 3), round((90 - d) * 3)) for r, d in corners]
    got = _path_points(path.get("d"))
    assert all(
        abs(a - c) <= 1 and abs(b - e) <= 1 for (a, b), (c, e) in zip(got, expected, strict=True)
    )
    assert 'clip-path="url(#sky)"' in ET.tostring(root, encoding="unicode")


def test_the_whole_dss2_sky_map_is_small() -> None:
    """5,000 plates: a few hundred kB (it was 1.8 MB), drawn at once (see bench_skymap)."""
    from extraction.synthetic.catalogue import survey_catalogue

    outlines = [
        PlateOutline(p.plate_id, p.ra_deg, p.dec_deg, 1.0, 0, 0, p.naxis, p.naxis, p.naxis, True)
        for p in survey_catalogue("DSS2")
    ]
    svg = sky_map_svg(outlines, title="DSS2")
    assert svg.count("<path ") == len(outlines) > 4000
    assert len(svg.encode()) < 600_000


def test_sky_map_labels_declinations() -> None:
    svg = sky_map_svg([], title="t")
    labels = re.findall(r">([+-]\d+)°<", svg)
    assert labels == ["-90", "-60", "-30", "+0", "+30", "+60", "+90"]


def test_field_map_centres_the_field_with_east_to_the_left() -> None:
    import xml.etree.ElementTree as ET

    plate = PlateOutline("0A", 10.0, 20.0, 1.7, 0, 0, 14000, 14000, 14000, True)
    # A field 2 degrees east of the plate centre lies left of the plate's middle.
    east = 10.0 + 2.0 / math.cos(math.radians(20.0))
    root = ET.fromstring(field_map_svg(east, 20.0, 30.0, 30.0, [plate], size=400, title="t"))
    polygons = list(root.iter("{http://www.w3.org/2000/svg}polygon"))
    field_xs = [float(p.split(",")[0]) for p in polygons[-1].get("points").split()]
    plate_xs = [float(p.split(",")[0]) for p in polygons[0].get("points").split()]
    assert np.mean(field_xs) < np.mean(plate_xs)
    every = field_xs + plate_xs
    assert min(every) >= 0 and max(every) <= 400  # fitted: nothing outside the picture
