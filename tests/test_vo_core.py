"""The pure core behind the IVOA services: DALI regions against brute force, parameter
checks, ObsCore values against astropy, and the old URLs' readings."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time
from astropy.wcs import WCS
from hypothesis import given, settings
from hypothesis import strategies as st

from extraction.core.dali import UsageError, grouped, region_of, sia_query_of
from extraction.core.legacyurls import LegacyRequestError, eso_field, stsci_field
from extraction.core.obscore import PlateFacts, exposure_mjd, passband_m, scanned_footprint
from extraction.core.plates import PlateGeometry
from extraction.core.regions import Circle, ConvexOutline, Polygon, Range, bounding_field
from tests.factories import dss_header

pytestmark = pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")


def square(ra: float, dec: float, half: float) -> ConvexOutline:
    """A plate-like outline: the gnomonic square of half-side ``tan(half)`` about (ra, dec)."""
    return ConvexOutline.from_ra_dec(*_gnomonic_to_sky(ra, dec, *_square_edge(half, 4)))


def _square_edge(half: float, per_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic (x, y) along the square's edges, corners first (counter-clockwise)."""
    h = np.tan(np.radians(half))
    corners = np.array([(-h, -h), (h, -h), (h, h), (-h, h)])
    t = np.linspace(0.0, 1.0, per_side // 4 if per_side > 4 else 1, endpoint=False)[:, None]
    points = np.concatenate(
        [a + (b - a) * t for a, b in zip(corners, np.roll(corners, -1, 0), strict=True)]
    )
    return points[:, 0], points[:, 1]


def _gnomonic_to_sky(ra: float, dec: float, x: np.ndarray, y: np.ndarray):
    """Sky positions of gnomonic (x, y) about (ra, dec), through astropy's offset frame."""
    frame = SkyCoord(ra * u.deg, dec * u.deg).skyoffset_frame()
    lon = np.arctan2(x, 1.0)
    lat = np.arctan2(y, np.hypot(1.0, x))
    sky = SkyCoord(lon=lon * u.rad, lat=lat * u.rad, frame=frame).icrs
    return sky.ra.deg, sky.dec.deg


def distance_to_square(ra: float, dec: float, half: float, point: SkyCoord) -> float:
    """Degrees from ``point`` to the square (0 inside), with astropy only."""
    frame = SkyCoord(ra * u.deg, dec * u.deg).skyoffset_frame()
    offset = point.transform_to(frame)
    lon, lat = offset.lon.rad, offset.lat.rad
    if np.cos(lon) * np.cos(lat) > 0:
        x, y = np.tan(lon), np.tan(lat) / np.cos(lon)
        if max(abs(x), abs(y)) <= np.tan(np.radians(half)):
            return 0.0
    edge = SkyCoord(*_gnomonic_to_sky(ra, dec, *_square_edge(half, 8000)), unit="deg")
    return float(edge.separation(point).deg.min())


@settings(max_examples=60, deadline=None)
@given(
    ra=st.floats(0, 360),
    dec=st.floats(-89, 89),
    dra=st.floats(-8, 8),
    ddec=st.floats(-8, 8),
    radius=st.floats(0, 6),
)
def test_circle_meets_a_plate_exactly_when_the_plate_is_within_the_radius(
    ra, dec, dra, ddec, radius
):
    plate = square(ra, dec, 3.2)
    centre = SkyCoord(ra * u.deg, dec * u.deg).spherical_offsets_by(dra * u.deg, ddec * u.deg)
    nearest = distance_to_square(ra, dec, 3.2, centre)
    circle = Circle(float(centre.ra.deg), float(centre.dec.deg), radius)
    if nearest <= radius - 0.01:
        assert circle.meets(plate)
    elif nearest > radius + 0.01:
        assert not circle.meets(plate)


def test_polygons_meet_when_they_overlap_contain_or_cross():
    plate = square(10.0, 20.0, 3.0)
    assert Polygon((9.0, 11.0, 10.0), (19.0, 19.0, 21.0)).meets(plate)  # inside the plate
    assert Polygon((0.0, 20.0, 20.0, 0.0), (10.0, 10.0, 30.0, 30.0)).meets(plate)  # around it
    assert Polygon((5.0, 15.0, 15.0, 5.0), (19.9, 19.9, 20.1, 20.1)).meets(plate)  # a bar across
    assert not Polygon((20.0, 25.0, 22.0), (20.0, 20.0, 25.0)).meets(plate)
    # A concave polygon whose notch holds the plate does not meet it.
    notch = Polygon(
        (0.0, 20.0, 20.0, 14.0, 14.0, 6.0, 6.0, 0.0),
        (10.0, 10.0, 30.0, 30.0, 15.0, 15.0, 30.0, 30.0),
    )
    assert not notch.meets(square(10.0, 25.0, 2.0))
    assert notch.meets(square(10.0, 12.0, 2.0))


def test_ranges_wrap_through_ra_zero_and_reach_the_poles():
    plate = square(359.0, 0.0, 3.0)
    assert Range(355.0, 5.0, -1.0, 1.0).meets(plate)
    assert Range(1.0, 2.0, -90.0, 90.0).meets(plate)  # plate spans 356..2
    assert not Range(3.0, 350.0, -90.0, 90.0).meets(plate)
    assert Range(0.0, 360.0, 1.0, 1.01).meets(plate)  # a thin strip across, no corner inside
    polar = square(0.0, 89.0, 3.0)
    assert Range(100.0, 110.0, 89.5, 90.0).meets(polar)


def test_bounding_fields():
    assert bounding_field(Circle(10.0, 20.0, 0.1)) == (10.0, 20.0, 12.0, 12.0)
    ra, dec, width, height = bounding_field(Range(359.9, 0.1, -0.1, 0.1))
    assert (ra % 360.0) == pytest.approx(0.0, abs=1e-9) and dec == pytest.approx(0.0, abs=1e-9)
    assert width == pytest.approx(12.0, rel=1e-3) and height == pytest.approx(12.0, rel=1e-3)


@pytest.mark.parametrize(
    "text, words",
    [
        ("CIRCLE 1 2", "CIRCLE takes 3 numbers"),
        ("CIRCLE 1 2 -1", "radius"),
        ("CIRCLE 400 2 1", "0 <= ra <= 360"),
        ("RANGE 1 2 5 3", "dec1 <= dec2"),
        ("POLYGON 0 0 1 0", "at least 3 vertices"),
        ("POLYGON 0 0 120 0 240 0", "hemisphere"),
        ("ELLIPSE 1 2 3 4 5", "POS must be"),
        ("CIRCLE inf 0 1", "finite"),
    ],
)
def test_bad_shapes(text, words):
    with pytest.raises(UsageError, match=words):
        region_of(text)


def test_parameters_group_case_insensitively_and_open_intervals():
    query = sia_query_of(
        grouped([("band", "-inf 5e-7"), ("BAND", "6e-7 +Inf"), ("maxrec", "10"), ("unknown", "x")])
    )
    assert query.intervals["BAND"] == ((-np.inf, 5e-7), (6e-7, np.inf))
    assert query.maxrec == 10
    assert sia_query_of(grouped([("MAXREC", "99999999")])).maxrec == 20000


def plate(survey: str, emulsion: str, filter_name: str, band: str, **kw: object) -> PlateFacts:
    header = dss_header(10.0, 20.0, survey=survey, corner=(100, 200), naxis=(900, 700))
    geometry = PlateGeometry(header)
    values: dict[str, object] = dict(
        survey=survey,
        plate_id="X1",
        region="",
        band=band,
        emulsion=emulsion,
        filter_name=filter_name,
        telescope="",
        epoch=None,
        date_obs=None,
        exposure_min=None,
        pixel_scale_arcsec=1.0,
        width_px=900,
        height_px=700,
        online=True,
        footprint=scanned_footprint(geometry),
    )
    values.update(kw)
    return PlateFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "survey, emulsion, filter_name, band, nm",
    [
        ("DSS2", "IIIaF", "RG610", "R", (610, 690)),
        ("DSS2", "iiiaf", "og 590", "R", (590, 690)),
        ("DSS2", "IV-N", "RG9", "I", (720, 900)),
        ("DSS1", "IIIaJ", "GG395", "B", (395, 540)),
        ("DSS2", "", "", "B", (385, 540)),  # unknown emulsion: the band's first programme
    ],
)
def test_passband_from_emulsion_and_filter(survey, emulsion, filter_name, band, nm):
    low, high = passband_m(plate(survey, emulsion, filter_name, band))
    assert (low, high) == pytest.approx((nm[0] * 1e-9, nm[1] * 1e-9))


def test_exposure_times_are_mjd():
    t_min, t_max = exposure_mjd(plate("DSS2", "", "", "R", epoch=1991.5, exposure_min=60.0))
    assert t_min == pytest.approx(Time(1991.5, format="decimalyear", scale="utc").mjd, abs=1e-3)
    assert t_max - t_min == pytest.approx(1 / 24)


def test_footprint_is_the_scanned_area_as_astropy_reads_the_header():
    header = dss_header(10.0, 20.0, survey="DSS2", corner=(100, 200), naxis=(900, 700))
    footprint = scanned_footprint(PlateGeometry(header))
    wcs = WCS(header)
    # The DSS solutions are FK5 J2000, which the footprint writes as ICRS (20 mas apart):
    # compare the numbers.
    ra, dec = wcs.all_pix2world([-0.5, 899.5, 899.5, -0.5], [-0.5, -0.5, 699.5, 699.5], 0)
    outline = SkyCoord(list(footprint.outline_ra), list(footprint.outline_dec), unit="deg")
    for corner in SkyCoord(ra, dec, unit="deg"):
        assert outline.separation(corner).arcsec.min() < 0.01
    (cra,), (cdec,) = wcs.all_pix2world([449.5], [349.5], 0)
    centre = SkyCoord(cra, cdec, unit="deg")
    assert (
        SkyCoord(footprint.ra_deg, footprint.dec_deg, unit="deg").separation(centre).arcsec < 0.01
    )


def test_stsci_and_eso_readings():
    a = stsci_field({"r": "00 40 00", "d": "-10 30 00", "v": "poss2ukstu_ir"})
    b = stsci_field({"RA": "10.0", "DEC": "-10.5", "VERSION": "POSS2UKSTU_IR"})
    assert (a.ra_deg, a.dec_deg) == pytest.approx((b.ra_deg, b.dec_deg))
    assert a.surveys == ("DSS2I",) and (a.width_arcmin, a.height_arcmin) == (15.0, 15.0)
    assert stsci_field({"r": "1", "d": "1"}).surveys == ("DSS1",)
    assert stsci_field({"r": "1", "d": "1", "v": "3"}).surveys == ("DSS2R", "DSS1")
    eso = eso_field(
        {
            "ra": "00 40 00",
            "dec": "-10 30 00",
            "Sky-Survey": "DSS2-infrared",
            "mime-type": "display/gz-fits",
            "x": "7.5",
        }
    )
    assert eso.surveys == ("DSS2I",) and eso.output_format == "fits.gz"
    assert (eso.width_arcmin, eso.height_arcmin) == (7.5, 5.0)
    with pytest.raises(LegacyRequestError) as refused:
        stsci_field({"r": "1", "d": "1", "w": "-3"})
    assert refused.value.status == 400 and "positive" in refused.value.message
    with pytest.raises(LegacyRequestError, match="larger than the sky"):
        eso_field({"ra": "1", "dec": "1", "x": "1e9"})
    # ESO's form sends an empty position beside a name; the caller's resolver reads the name.
    named = eso_field({"name": "M 31", "ra": " ", "dec": ""}, resolve=lambda name: (10.7, 41.3))
    assert (named.ra_deg, named.dec_deg) == (10.7, 41.3)
    placed = eso_field({"name": "M 31", "ra": "1", "dec": "2"}, resolve=lambda name: (10.7, 41.3))
    assert (placed.ra_deg, placed.dec_deg) == pytest.approx((1.0, 2.0))  # the position wins
    with pytest.raises(LegacyRequestError) as unresolved:
        eso_field({"name": "M 31"})
    assert unresolved.value.status == 400


def _plate_grid(ra: float, dec: float, half: float) -> tuple[np.ndarray, np.ndarray]:
    """RA/Dec of a dense grid over the square plate (edges included), through astropy."""
    h = np.tan(np.radians(half))
    x, y = np.meshgrid(np.linspace(-h, h, 81), np.linspace(-h, h, 81))
    return _gnomonic_to_sky(ra, dec, x.ravel(), y.ravel())


def _in_range(ra, dec, ra1, ra2, dec1, dec2) -> bool:
    in_ra = (ra >= ra1) & (ra <= ra2) if ra1 <= ra2 else (ra >= ra1) | (ra <= ra2)
    return bool((in_ra & (dec >= dec1) & (dec <= dec2)).any())


@settings(max_examples=40, deadline=None)
@given(
    ra=st.floats(0, 360), dec=st.floats(-80, 80), ra1=st.floats(0, 360),
    ra_span=st.floats(0.01, 40), dec1=st.floats(-89, 88), dec_span=st.floats(0.01, 30),
)  # fmt: skip
def test_range_meets_a_plate_when_a_plate_point_lies_in_it(ra, dec, ra1, ra_span, dec1, dec_span):
    half = 3.2
    plate = square(ra, dec, half)
    grid_ra, grid_dec = _plate_grid(ra, dec, half)
    ra2, dec2 = (ra1 + ra_span) % 360.0, min(dec1 + dec_span, 90.0)
    box = Range(ra1, ra2, dec1, dec2)
    pad = 0.1 / max(np.cos(np.radians(max(abs(dec1), abs(dec2)))), 0.05)  # RA degrees
    shrunk = ((ra1 + pad) % 360, (ra2 - pad) % 360, dec1 + 0.1, dec2 - 0.1)
    grown = ((ra1 - pad) % 360, (ra2 + pad) % 360, dec1 - 0.1, dec2 + 0.1)
    if ra_span > 2 * pad and dec_span > 0.2 and _in_range(grid_ra, grid_dec, *shrunk):
        assert box.meets(plate)
    if not _in_range(grid_ra, grid_dec, *grown):
        assert not box.meets(plate)
