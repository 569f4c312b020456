"""Plate geometry: the DSS plate solution through astropy/WCSLIB, field boxes, selection.

References come from outside the code under test: the real DSS header shipped with astropy
(plate 0025 of region S134, UK Schmidt) checked against the DSS plate model written out
below as GetImage / WCSTools ``platepos`` evaluate it, and astropy's own angular separation.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.utils.data import get_pkg_data_filename
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from extraction.core.plates import (
    MAX_FIELD_DISTANCE_DEG,
    DigitizedArea,
    DSSHeaderError,
    PlateGeometry,
    PlateIndex,
    angular_distance_deg,
    missing_dss_keywords,
    search_radius_deg,
    select_centre,
    select_edge,
    select_touching,
)
from extraction.core.surveys import survey_for_pixel_size

DSS_FILE = "data/dss.14.29.56-62.41.05.fits.gz"


# -- The real DSS header ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_header() -> fits.Header:
    path = get_pkg_data_filename(DSS_FILE, package="astropy.wcs.tests")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SKEW card is not standard FITS
        return fits.getheader(path)


@pytest.fixture(scope="module")
def real_geometry(real_header: fits.Header) -> PlateGeometry:
    return PlateGeometry(real_header)


def dss_platepos(
    header: fits.Header, i: np.ndarray, j: np.ndarray, *, max_term: int = 13
) -> tuple[np.ndarray, np.ndarray]:
    """The DSS plate model, independent of WCSLIB: 1-based FITS pixels (i, j) -> RA, Dec deg.

    As in GetImage and WCSTools ``platepos``: full-plate pixel = CNPIX + i - 0.5, millimetres
    from the plate centre via PPO3/PPO6 and the pixel size, standard coordinates xi/eta in
    arcsec from the AMDX/AMDY polynomial (terms 1..13), then the gnomonic deprojection
    about PLTRA/PLTDEC. ``max_term`` < 13 drops the higher-order terms.
    """
    x_mm = (header["PPO3"] - header["XPIXELSZ"] * (header["CNPIX1"] + i - 0.5)) / 1000.0
    y_mm = (header["YPIXELSZ"] * (header["CNPIX2"] + j - 0.5) - header["PPO6"]) / 1000.0
    a = [header[f"AMDX{k}"] if k <= max_term else 0.0 for k in range(1, 14)]
    b = [header[f"AMDY{k}"] if k <= max_term else 0.0 for k in range(1, 14)]
    x, y = x_mm, y_mm
    r2 = x * x + y * y
    xi = (
        a[0] * x + a[1] * y + a[2] + a[3] * x * x + a[4] * x * y + a[5] * y * y + a[6] * r2
        + a[7] * x**3 + a[8] * x * x * y + a[9] * x * y * y + a[10] * y**3
        + a[11] * x * r2 + a[12] * x * r2 * r2
    )  # fmt: skip
    eta = (
        b[0] * y + b[1] * x + b[2] + b[3] * y * y + b[4] * x * y + b[5] * x * x + b[6] * r2
        + b[7] * y**3 + b[8] * y * y * x + b[9] * y * x * x + b[10] * x**3
        + b[11] * y * r2 + b[12] * y * r2 * r2
    )  # fmt: skip
    xi_r, eta_r = np.radians(xi / 3600.0), np.radians(eta / 3600.0)
    ra0 = np.radians(15.0 * (header["PLTRAH"] + header["PLTRAM"] / 60 + header["PLTRAS"] / 3600))
    sign = -1.0 if header["PLTDECSN"].strip() == "-" else 1.0
    dec0 = sign * np.radians(header["PLTDECD"] + header["PLTDECM"] / 60 + header["PLTDECS"] / 3600)
    tan0 = np.tan(dec0)
    ra_off = np.arctan2(xi_r / np.cos(dec0), 1.0 - eta_r * tan0)
    dec = np.arctan(np.cos(ra_off) * (eta_r + tan0) / (1.0 - eta_r * tan0))
    return np.degrees(ra0 + ra_off) % 360.0, np.degrees(dec)


def separation_arcsec(ra1, dec1, ra2, dec2) -> np.ndarray:
    return (
        SkyCoord(ra1 * u.deg, dec1 * u.deg).separation(SkyCoord(ra2 * u.deg, dec2 * u.deg)).arcsec
    )


def test_wcslib_reads_the_dss_solution_as_tan_with_polynomial_distortion(real_geometry):
    wcs = real_geometry.wcs
    assert list(wcs.wcs.ctype) == ["RA---TAN", "DEC--TAN"]
    # The TAN reference point is the plate centre, not the header's approximate CRVAL.
    assert_allclose(wcs.wcs.crval, [219.445343875, -60.21646878055556], atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serialised = wcs.to_header()
    assert serialised["CQDIS1"] == "TPD"  # the DSS polynomial, as a WCSLIB distortion


def test_wcs_matches_the_dss_plate_model_over_the_image(real_header, real_geometry):
    i, j = np.meshgrid(np.linspace(1, 100, 23), np.linspace(1, 100, 23))
    ra_ref, dec_ref = dss_platepos(real_header, i, j)
    ra, dec = real_geometry.pixel_to_sky(i - 1, j - 1)
    assert separation_arcsec(ra, dec, ra_ref, dec_ref).max() < 0.05


def test_wcs_matches_the_dss_plate_model_over_the_whole_plate(real_header, real_geometry):
    # The same solution serves every pixel of plate 0025, far outside this small cut-out.
    plate_x, plate_y = np.meshgrid(np.linspace(1, 13999, 15), np.linspace(1, 13999, 15))
    x, y = real_geometry.plate_to_pixel(plate_x, plate_y)
    ra_ref, dec_ref = dss_platepos(real_header, x + 1, y + 1)
    ra, dec = real_geometry.pixel_to_sky(x, y)
    assert separation_arcsec(ra, dec, ra_ref, dec_ref).max() < 0.05


def test_the_reference_would_catch_a_missing_distortion(real_header, real_geometry):
    # Sanity check of the test itself: dropping the cubic terms moves positions by arcsec.
    i, j = np.meshgrid(np.linspace(1, 100, 5), np.linspace(1, 100, 5))
    ra_lin, dec_lin = dss_platepos(real_header, i, j, max_term=7)
    ra, dec = real_geometry.pixel_to_sky(i - 1, j - 1)
    assert separation_arcsec(ra, dec, ra_lin, dec_lin).min() > 1.0


def test_objct_pixel_lands_on_objct_position(real_header, real_geometry):
    # OBJCTX/OBJCTY are full-plate DSS pixels (CNPIX + FITS pixel - 0.5).
    x, y = real_geometry.plate_to_pixel(real_header["OBJCTX"], real_header["OBJCTY"])
    ra, dec = real_geometry.pixel_to_sky(x, y)
    target = SkyCoord(real_header["OBJCTRA"], real_header["OBJCTDEC"], unit=(u.hourangle, u.deg))
    assert target.separation(SkyCoord(ra * u.deg, dec * u.deg)).arcsec < 1.5


def test_full_plate_pixel_convention(real_geometry):
    # FITS pixel 1 of an image with corner CNPIX1 is full-plate X = CNPIX1 + 0.5.
    plate_x, plate_y = real_geometry.pixel_to_plate(0, 0)
    assert (plate_x, plate_y) == (8860.5, 1708.5)
    assert real_geometry.plate_to_pixel(8860.5, 1708.5) == (0.0, 0.0)


def test_sky_pixel_sky_round_trip_below_a_milliarcsecond(real_geometry):
    rng = np.random.default_rng(7)
    x, y = rng.uniform(-5000, 5000, 200), rng.uniform(-1000, 10000, 200)
    ra, dec = real_geometry.pixel_to_sky(x, y)
    x2, y2 = real_geometry.sky_to_pixel(ra, dec)
    ra2, dec2 = real_geometry.pixel_to_sky(x2, y2)
    assert separation_arcsec(ra, dec, ra2, dec2).max() < 1e-3
    assert_allclose(x2, x, atol=1e-6)
    assert_allclose(y2, y, atol=1e-6)


def test_digitized_area_of_a_partial_scan_is_its_cnpix_and_naxis(real_geometry):
    assert real_geometry.area == DigitizedArea(8860, 1708, 100, 100)
    assert real_geometry.survey == "DSS1"
    assert real_geometry.plate_id == "0025"
    assert real_geometry.nominal_scale_arcsec == pytest.approx(1.6991, abs=1e-4)
    assert real_geometry.local_scale_arcsec(50, 50) == pytest.approx(1.70, abs=0.01)


@pytest.mark.parametrize("where", ["end", "absent"])
def test_plateid_card_order_does_not_matter(real_header, real_geometry, where):
    # WCSLIB mishandles PLATEID after the solution cards or missing; we must not care.
    header = real_header.copy()
    del header["PLATEID"]
    if where == "end":
        header["PLATEID"] = "0025"
    geometry = PlateGeometry(header)
    ra, dec = geometry.pixel_to_sky([0, 99], [0, 99])
    ra_ref, dec_ref = real_geometry.pixel_to_sky([0, 99], [0, 99])
    assert separation_arcsec(ra, dec, ra_ref, dec_ref).max() < 1e-6


def test_a_header_without_a_plate_solution_is_refused(real_header):
    header = real_header.copy()
    for key in ("PPO3", "AMDX5", "PLTDECSN"):
        del header[key]
    assert missing_dss_keywords(header) == ["PLTDECSN", "PPO3", "AMDX5"]
    with pytest.raises(DSSHeaderError, match="PLTDECSN, PPO3, AMDX5"):
        PlateGeometry(header)


def test_survey_from_pixel_size():
    assert survey_for_pixel_size(25.28445) == "DSS1"
    assert survey_for_pixel_size(25.28) == "DSS1"
    assert survey_for_pixel_size(15.0) == "DSS2"
    assert survey_for_pixel_size(10.0) is None


# -- Synthetic plates -------------------------------------------------------------------


def dss_header(
    ra_deg: float,
    dec_deg: float,
    *,
    plate_id: str = "TEST",
    size: int = 14000,
    pixel_um: float = 25.28445,
    plate_scale: float = 67.2,
    corner: tuple[int, int] = (0, 0),
    naxis: tuple[int, int] | None = None,
) -> fits.Header:
    """A DSS-style header for an undistorted plate of ``size``^2 pixels centred on (ra, dec).

    PPO3/PPO6 put the plate centre (full-plate X = Y = size/2) at x_mm = y_mm = 0, and
    AMDX1 = AMDY1 = the plate scale in arcsec/mm: xi = PLTSCALE * x_mm, eta = PLTSCALE * y_mm.
    ``corner``/``naxis`` describe the stored image (CNPIX, NAXIS); without ``naxis`` the
    header describes no image and the geometry falls back to the nominal full plate.
    """
    header = fits.Header()
    if naxis is not None:
        header["NAXIS"] = 2
        header["NAXIS1"], header["NAXIS2"] = naxis
    header["PLATEID"] = plate_id
    coord = SkyCoord(ra_deg * u.deg, dec_deg * u.deg)
    h, m, s = coord.ra.hms
    d, dm, ds = coord.dec.signed_dms[1:]
    header["PLTRAH"], header["PLTRAM"], header["PLTRAS"] = int(h), int(m), float(s)
    header["PLTDECSN"] = "-" if coord.dec.deg < 0 else "+"
    header["PLTDECD"], header["PLTDECM"], header["PLTDECS"] = int(d), int(dm), float(ds)
    header["EQUINOX"] = 2000.0
    header["PLTSCALE"] = plate_scale
    header["XPIXELSZ"] = header["YPIXELSZ"] = pixel_um
    header["CNPIX1"], header["CNPIX2"] = corner
    for k in range(1, 7):
        header[f"PPO{k}"] = 0.0
    header["PPO3"] = header["PPO6"] = pixel_um * size / 2.0
    for k in range(1, 21):
        header[f"AMDX{k}"] = header[f"AMDY{k}"] = 0.0
    header["AMDX1"] = header["AMDY1"] = plate_scale
    return header


def plate(ra: float, dec: float, **kwargs) -> PlateGeometry:
    area = kwargs.pop("area", None)
    return PlateGeometry(dss_header(ra, dec, **kwargs), area=area)


SCALE = 25.28445 * 67.2 / 1000.0  # arcsec per pixel of the synthetic DSS1 plates


def test_synthetic_plate_centre_is_at_the_middle_of_the_plate():
    geometry = plate(150.0, 20.0)
    x, y = geometry.sky_to_pixel(150.0, 20.0)
    assert_allclose(geometry.pixel_to_plate(x, y), (7000.0, 7000.0), atol=1e-6)
    assert geometry.area == DigitizedArea(0, 0, 14000, 14000)
    # xi grows with decreasing X: RA increases to the left, as on a sky image.
    ra, _ = geometry.pixel_to_sky([6000.0, 8000.0], [7000.0, 7000.0])
    assert ra[0] > ra[1]


def test_field_at_plate_centre_is_fully_covered_with_the_expected_box():
    geometry = plate(150.0, 20.0)
    cov = geometry.coverage(150.0, 20.0, 10.0, 5.0)
    assert cov.full and cov.centre_inside and cov.fraction == 1.0
    assert cov.distance_deg == pytest.approx(0.0, abs=1e-9)
    assert cov.scale_arcsec == pytest.approx(SCALE, rel=1e-6)
    assert cov.box is not None
    assert (cov.box.nx, cov.box.ny) == (round(600 / SCALE), round(300 / SCALE))
    # Margin: from the box edge to the nearest plate edge, in pixels and arcmin.
    expected = min(cov.box.x0, 14000 - cov.box.x1, cov.box.y0, 14000 - cov.box.y1)
    assert cov.margin_px == expected
    assert cov.margin_arcmin == pytest.approx(expected * SCALE / 60.0)
    assert cov.box.cnpix == (cov.box.x0, cov.box.y0)


PLATE_FOR_PROPERTIES = plate(200.0, -35.0, corner=(300, 200), naxis=(13000, 13500))


@settings(max_examples=60, deadline=None)
@given(
    dx=st.floats(-6500, 6500),
    dy=st.floats(-6500, 6500),
    width=st.floats(0.5, 60.0),
    height=st.floats(0.5, 60.0),
)
def test_box_centre_is_within_half_a_pixel_of_the_field_centre(dx, dy, width, height):
    geometry = PLATE_FOR_PROPERTIES
    ra, dec = geometry.pixel_to_sky(6999.5 + dx, 6999.5 + dy)
    cov = geometry.coverage(float(ra), float(dec), width, height)
    assert cov.box is not None
    xc, yc = geometry.sky_to_pixel(ra, dec)
    bx, by = cov.box.centre
    assert abs(bx - xc) <= 0.5 + 1e-9 and abs(by - yc) <= 0.5 + 1e-9
    assert cov.box.nx == max(1, math.floor(width * 60 / cov.scale_arcsec + 0.5))
    assert cov.box.ny == max(1, math.floor(height * 60 / cov.scale_arcsec + 0.5))


def test_field_half_off_the_edge_has_half_coverage():
    # A partial scan of 1500 x 1300 pixels; field centred on its left edge.
    geometry = plate(30.0, 10.0, corner=(5000, 6000), naxis=(1500, 1300))
    ra, dec = geometry.pixel_to_sky(-0.5, 650.0)
    cov = geometry.coverage(float(ra), float(dec), 10.0, 10.0)
    assert not cov.full
    assert cov.fraction == pytest.approx(0.5, abs=0.01)
    assert cov.margin_px == pytest.approx(-cov.box.nx / 2, abs=1)
    assert cov.margin_arcmin < 0


def test_centre_inside_follows_pixel_edges():
    geometry = plate(30.0, 10.0, corner=(5000, 6000), naxis=(1500, 1300))
    inside = geometry.pixel_to_sky(-0.49, 10.0)
    outside = geometry.pixel_to_sky(-0.51, 10.0)
    assert geometry.coverage(*map(float, inside), 1.0, 1.0).centre_inside
    assert not geometry.coverage(*map(float, outside), 1.0, 1.0).centre_inside


def test_field_off_the_partial_scan_but_on_the_plate_is_not_covered():
    geometry = plate(30.0, 10.0, corner=(5000, 6000), naxis=(1500, 1300))
    cov = geometry.coverage(30.0 + 2.0, 10.0, 10.0, 10.0)
    assert cov.box is not None and cov.fraction == 0.0 and not cov.covered
    assert not cov.centre_inside and cov.margin_px < 0


@pytest.mark.parametrize(
    ("ra", "dec"),
    [(30.0 + 12.0, 10.0), (210.0, -10.0), (30.0, -80.0), (30.0 + 180.0 - 1e-9, -10.0)],
    ids=["12deg", "antipode", "far-south", "behind-tangent-plane"],
)
def test_fields_far_from_the_plate_are_not_covered_and_do_not_crash(ra, dec):
    geometry = plate(30.0, 10.0)
    cov = geometry.coverage(ra, dec, 10.0, 10.0)
    assert cov.box is None and not cov.covered and not cov.full and not cov.centre_inside
    assert cov.distance_deg > MAX_FIELD_DISTANCE_DEG
    assert cov.margin_px == -math.inf
    x, _ = geometry.sky_to_pixel([ra, 30.0], [dec, 10.0])
    assert np.isnan(x[0]) and np.isfinite(x[1])


def test_plate_at_the_pole_and_field_across_ra_zero():
    polar = plate(0.0, 90.0)
    cov = polar.coverage(123.0, 88.5, 20.0, 20.0)
    assert cov.full and cov.distance_deg == pytest.approx(1.5)
    wrap = plate(359.5, 0.0)
    cov = wrap.coverage(0.6, 0.0, 20.0, 20.0)
    assert cov.full and cov.distance_deg == pytest.approx(1.1)
    ra, _ = wrap.pixel_to_sky(*map(float, wrap.sky_to_pixel(0.6, 0.0)))
    assert float(ra) == pytest.approx(0.6)


def test_nominal_full_plate_for_an_offline_plate_and_explicit_area():
    dss2 = plate(10.0, 10.0, size=23040, pixel_um=15.0)
    assert dss2.survey == "DSS2" and dss2.area == DigitizedArea(0, 0, 23040, 23040)
    partial = plate(10.0, 10.0, area=DigitizedArea(6750, 6750, 500, 500))
    assert partial.coverage(10.0, 10.0, 5.0, 5.0).full
    assert not partial.coverage(10.0, 10.0, 20.0, 20.0).full


# -- Selection --------------------------------------------------------------------------


def test_modes_e_and_c_pick_different_plates():
    """Mode c prefers the nearest plate centre, mode e the widest margin: they can differ.

    Plate A is centred 0.2 deg from the field, but only the southern part of A was
    digitized (a partial scan ending ~13' north of the field centre), so the field sits
    near A's digitized edge. Plate B is centred 2 deg from the field and fully digitized,
    so the field is ~1.3 deg from B's edge. Both contain the field centre. c picks A
    (nearest centre); e picks B (largest margin).
    """
    field_ra, field_dec = 100.0, 0.0
    a_full = plate(100.0, -0.2, plate_id="A")
    _, y_field = a_full.sky_to_pixel(field_ra, field_dec)
    north_edge = int(y_field) + 460  # ~13' north of the field centre
    a = plate(100.0, -0.2, plate_id="A", area=DigitizedArea(0, 0, 14000, north_edge))
    b = plate(102.0, 0.0, plate_id="B")
    pairs = [(g, g.coverage(field_ra, field_dec, 10.0, 10.0)) for g in (a, b)]
    assert all(cov.full and cov.centre_inside for _, cov in pairs)
    assert select_centre(pairs).plate is a
    chosen = select_edge(pairs)
    assert chosen.plate is b and not chosen.clipped
    assert chosen.coverage.margin_arcmin > 60


def test_mode_e_falls_back_to_the_largest_fraction_and_flags_it_clipped():
    geometry_a = plate(50.0, 0.0, plate_id="A", corner=(6000, 6000), naxis=(1000, 1000))
    geometry_b = plate(50.0, 0.0, plate_id="B", corner=(6000, 6000), naxis=(1100, 1000))
    ra, dec = map(float, geometry_a.pixel_to_sky(950.0, 500.0))  # 50 px from A's right edge
    pairs = [(g, g.coverage(ra, dec, 10.0, 10.0)) for g in (geometry_a, geometry_b)]
    assert not any(cov.full for _, cov in pairs)
    chosen = select_edge(pairs)
    assert chosen.plate is geometry_b and chosen.clipped
    assert chosen.coverage.fraction > pairs[0][1].fraction


def test_selection_ties_go_to_the_smallest_plate_id():
    twins = [plate(80.0, 5.0, plate_id=pid) for pid in ("0107", "0042", "0311")]
    pairs = [(g, g.coverage(80.1, 5.0, 5.0, 5.0)) for g in twins]
    assert select_edge(pairs).plate.plate_id == "0042"
    assert select_centre(pairs).plate.plate_id == "0042"
    assert [g.plate_id for g, _ in select_touching(pairs)] == ["0042", "0107", "0311"]


def test_selection_with_no_plate():
    far = plate(0.0, -60.0)
    pairs = [(far, far.coverage(180.0, 60.0, 5.0, 5.0))]
    assert select_edge(pairs) is None
    assert select_centre(pairs) is None
    assert select_touching(pairs) == []


# -- Candidate pre-filter ---------------------------------------------------------------


def test_angular_distance_agrees_with_astropy():
    rng = np.random.default_rng(3)
    ra1, ra2 = rng.uniform(0, 360, (2, 500))
    dec1, dec2 = np.degrees(np.arcsin(rng.uniform(-1, 1, (2, 500))))
    expected = separation_arcsec(ra1, dec1, ra2, dec2) / 3600.0
    assert_allclose(angular_distance_deg(ra1, dec1, ra2, dec2), expected, atol=1e-10)


def test_prefilter_equals_brute_force_including_poles_and_ra_wrap():
    rng = np.random.default_rng(11)
    n = 2000
    ra = np.concatenate([rng.uniform(0, 360, n), [0.0, 359.9, 0.1, 180.0, 45.0]])
    dec = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, n))), [0, 0, 0, 90, -90]])
    index = PlateIndex(ra, dec, [f"P{k:04d}" for k in range(len(ra))])
    queries = [(0.0, 0.0), (359.95, 1.0), (0.05, -1.0), (10.0, 89.9), (200.0, -89.5)]
    queries += [
        (float(r), float(d))
        for r, d in zip(rng.uniform(0, 360, 40), rng.uniform(-90, 90, 40), strict=True)
    ]
    plates = SkyCoord(ra * u.deg, dec * u.deg)
    for qra, qdec in queries:
        for radius in (1.0, 4.9, 12.0):
            sep = SkyCoord(qra * u.deg, qdec * u.deg).separation(plates).deg
            found = index.candidates(qra, qdec, radius)
            clear = np.abs(sep - radius) > 1e-9  # leave exact-boundary ties out
            assert set(found) & set(np.flatnonzero(clear)) == set(
                np.flatnonzero((sep <= radius) & clear)
            )


def test_prefilter_radius_never_misses_a_touching_plate():
    radius = search_radius_deg(
        plate_size_px=14000, scale_arcsec=SCALE, width_arcmin=60, height_arcmin=60
    )
    geometry = plate(0.0, 0.0)
    # A field just touching the plate corner is within the radius.
    ra, dec = map(float, geometry.pixel_to_sky(-0.5 - 1000, -0.5 - 1000))
    cov = geometry.coverage(ra, dec, 60.0, 60.0)
    assert cov.covered
    assert cov.distance_deg < radius
