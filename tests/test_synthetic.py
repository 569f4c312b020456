"""The synthetic DSS: plate catalogue, headers, pixels and the demo sky.

Pure pytest; no Django. References come from outside the code under test where there is
one: astropy's WCS (WCSLIB's reading of the DSS keywords) for every geometric answer,
astropy's FK4 -> FK5 for the B1950 example, the real DSS header shipped with astropy for
the keyword order and the size of the plate-solution terms.
"""

from __future__ import annotations

import math
import re
import warnings
from functools import cache
from pathlib import Path

import astropy
import numpy as np
import pytest
from astropy.coordinates import FK4, FK5, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from numpy.testing import assert_allclose

from extraction import synthetic as syn
from extraction.core.sky import angular_distance_deg

REAL_DSS = Path(astropy.__file__).parent / "wcs/tests/data/dss.14.29.56-62.41.05.fits.gz"
MAS_PER_DEG = 3.6e6

# -- helpers (independent of the layout code) -------------------------------------------------


@cache
def plate_sets() -> dict[str, list[syn.PlateSpec]]:
    dss2 = syn.survey_catalogue("DSS2")
    sets = {"DSS1": syn.survey_catalogue("DSS1")}
    sets.update({f"DSS2{b}": [p for p in dss2 if p.band == b] for b in "RBI"})
    return sets


@cache
def wcs_of(spec: syn.PlateSpec) -> WCS:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a synthetic header must read without complaint
        return WCS(syn.plate_header(spec))


def sky_to_full_pixel(spec: syn.PlateSpec, ra, dec) -> tuple[np.ndarray, np.ndarray]:
    x, y = wcs_of(spec).all_world2pix(np.atleast_1d(ra), np.atleast_1d(dec), 0)
    return x, y


def inside(spec: syn.PlateSpec, x, y, margin: float = 0.0) -> np.ndarray:
    lo, hi = -0.5 + margin, spec.naxis - 0.5 - margin
    return (x >= lo) & (x <= hi) & (y >= lo) & (y <= hi)


def unit_vectors(ra, dec) -> np.ndarray:
    ra, dec = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)


def standard_coordinates(centres: np.ndarray, points: np.ndarray):
    """Gnomonic (xi, eta, cos distance) of points about plate centres; shapes (P, C)."""
    ra0, dec0 = np.radians(centres[:, 0]), np.radians(centres[:, 1])
    east = np.stack([-np.sin(ra0), np.cos(ra0), np.zeros_like(ra0)], axis=-1)
    north = np.stack(
        [-np.sin(dec0) * np.cos(ra0), -np.sin(dec0) * np.sin(ra0), np.cos(dec0)], axis=-1
    )
    centre = unit_vectors(centres[:, 0], centres[:, 1])
    cosd = points @ centre.T
    with np.errstate(divide="ignore", invalid="ignore"):
        return (points @ east.T) / cosd, (points @ north.T) / cosd, cosd


def field_outline(ra: float, dec: float, size_arcmin: float, n: int = 12):
    """Outline of a square field (sides along N/E at its centre), through astropy."""
    centre = SkyCoord(ra, dec, unit="deg")
    half = size_arcmin / 2.0
    t = np.linspace(-half, half, n + 1)
    east = np.concatenate([t, np.full_like(t, half), t, np.full_like(t, -half)])
    north = np.concatenate([np.full_like(t, -half), t, np.full_like(t, half), t])
    pts = centre.spherical_offsets_by(
        east * 60 * astropy.units.arcsec, north * 60 * astropy.units.arcsec
    )
    return pts.ra.deg, pts.dec.deg


# -- The catalogue ----------------------------------------------------------------------------


def sky_points() -> np.ndarray:
    """10,000 seeded uniform points, the poles, the RA 0/360 seam and the switch-over lines."""
    rng = np.random.default_rng(20_240_611)
    ra = rng.uniform(0.0, 360.0, 10_000)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, 10_000)))
    decs = np.linspace(-89.5, 89.5, 19)
    seam_ra = np.concatenate([np.zeros_like(decs), np.full_like(decs, 359.99999)])
    ras = np.linspace(0.0, 360.0, 37)
    switch = [d + o for d in (syn.DSS1_SWITCH_DEC, syn.DSS2_SWITCH_DEC) for o in (-0.05, 0, 0.05)]
    ra = np.concatenate([ra, [0.0, 0.0, 123.0, 250.0], seam_ra, np.tile(ras, len(switch))])
    dec = np.concatenate(
        [dec, [90.0, -90.0, 89.9999, -89.9999], np.tile(decs, 2), np.repeat(switch, ras.size)]
    )
    return np.stack([ra, dec], axis=-1)


# The nominal area of every plate contains the gnomonic square this much smaller than the
# ideal plate (checked with WCS in test_nominal_area_contains_inset_square): the plate
# solutions rotate and distort the square by at most ~1.3 arcmin.
INSET_ARCMIN = 3.0


def inset_half_tan(spec: syn.PlateSpec) -> float:
    return math.tan(math.radians(spec.half_size_deg - INSET_ARCMIN / 60.0))


@pytest.mark.parametrize("name", ["DSS1", "DSS2R", "DSS2B", "DSS2I"])
def test_every_point_of_the_sky_is_on_a_plate(name: str) -> None:
    plates = plate_sets()[name]
    centres = np.array([[p.ra_deg, p.dec_deg] for p in plates])
    t = np.array([inset_half_tan(p) for p in plates])
    points = sky_points()
    vectors = unit_vectors(points[:, 0], points[:, 1])
    best_margin = np.empty(len(points))
    best_plate = np.empty(len(points), dtype=int)
    for s in range(0, len(points), 2000):
        xi, eta, cosd = standard_coordinates(centres, vectors[s : s + 2000])
        margin = np.where(cosd > 0, t - np.maximum(np.abs(xi), np.abs(eta)), -np.inf)
        best_plate[s : s + 2000] = margin.argmax(axis=1)
        best_margin[s : s + 2000] = margin.max(axis=1)
    missed = points[best_margin < 0]
    assert missed.size == 0, f"{len(missed)} points on no {name} plate, e.g. {missed[:5]}"

    # The delicate points (poles, seam, switch-over lines) directly with astropy's WCS, on
    # the plate that holds them with the largest margin.
    special = np.arange(10_000, len(points))
    for i in np.unique(best_plate[special]):
        spec = plates[i]
        mine = special[best_plate[special] == i]
        x, y = sky_to_full_pixel(spec, points[mine, 0], points[mine, 1])
        assert inside(spec, x, y).all(), (spec.plate_id, points[mine][~inside(spec, x, y)])


@pytest.mark.parametrize("name", ["DSS1", "DSS2R", "DSS2B", "DSS2I"])
def test_nominal_area_contains_inset_square(name: str) -> None:
    """What justifies the gnomonic check above, with WCS on the plates most likely to fail:
    the most rotated and most scaled solutions, the polar plates, and a random sample."""
    plates = plate_sets()[name]
    solutions = [syn.plate_solution(p) for p in plates]
    rotation = [abs(amdx[1]) + abs(amdy[1]) for amdx, amdy in solutions]
    scale = [abs(amdx[0] - 67.2) + abs(amdy[0] - 67.2) for amdx, amdy in solutions]
    assert max(rotation) < 1.0  # a bounded rotation (~0.2 arcsec/mm as on real plates)
    rng = np.random.default_rng(7)
    picks = set(np.argsort(rotation)[-6:]) | set(np.argsort(scale)[-4:])
    picks |= {i for i, p in enumerate(plates) if abs(p.dec_deg) > 89}
    picks |= set(rng.choice(len(plates), 20, replace=False))
    side = np.linspace(-1.0, 1.0, 41)
    ones = np.ones_like(side)
    for i in sorted(picks):
        spec = plates[i]
        t = inset_half_tan(spec)
        xi = t * np.concatenate([side, ones, -side, -ones])
        eta = t * np.concatenate([-ones, side, ones, -side])
        d0, r0 = math.radians(spec.dec_deg), math.radians(spec.ra_deg)
        den = math.cos(d0) - eta * math.sin(d0)
        ra = np.degrees(r0 + np.arctan2(xi, den))
        dec = np.degrees(np.arctan2(math.sin(d0) + eta * math.cos(d0), np.hypot(xi, den)))
        x, y = sky_to_full_pixel(spec, ra, dec)
        assert inside(spec, x, y).all(), spec


def test_catalogue_sizes_and_determinism() -> None:
    sets = plate_sets()
    assert len(sets["DSS1"]) == 1205
    assert [len(sets[f"DSS2{b}"]) for b in "RBI"] == [1392, 1392, 1392]
    again = syn.survey_catalogue("dss2")
    assert again == syn.survey_catalogue("DSS2") and again is not syn.survey_catalogue("DSS2")
    with pytest.raises(ValueError, match="unknown survey"):
        syn.survey_catalogue("DSS3")


def test_plate_ids_and_regions() -> None:
    everything = syn.survey_catalogue("DSS1") + syn.survey_catalogue("DSS2")
    ids = [p.plate_id for p in everything]
    assert len(set(ids)) == len(ids)  # unique per survey, and even across surveys
    region_like = re.compile(r"^[A-Z]{1,2}\d{3}$")
    for p in everything:
        assert re.fullmatch(r"[0-9][0-9A-Z]{3}", p.plate_id), p
        assert not region_like.match(p.plate_id)
        assert region_like.match(p.region), p
        assert p.synthetic is True
    assert sum(any(c.isalpha() for c in i) for i in ids) > len(ids) / 2  # digits and letters
    # One field, one region, in every band of a programme grid.
    dss2 = {(p.region, p.band): p for p in syn.survey_catalogue("DSS2")}
    assert dss2[("S285", "R")].ra_deg == dss2[("S285", "B")].ra_deg == dss2[("S285", "I")].ra_deg


def test_04IN_is_the_serc_j_plate_of_ngc7793() -> None:
    everything = syn.survey_catalogue("DSS1") + syn.survey_catalogue("DSS2")
    matches = [p for p in everything if p.plate_id == "04IN"]
    assert len(matches) == 1
    plate = matches[0]
    assert (plate.survey, plate.band, plate.emulsion, plate.filter) == (
        "DSS1",
        "B",
        "IIIaJ",
        "GG395",
    )
    assert plate.telescope == "UK 48-inch Schmidt" and plate.region.startswith("S")
    assert 1975.0 <= plate.epoch < 1988.0
    ra = SkyCoord("23h57m49.4s", "-32d35m24s").ra.deg
    x, y = sky_to_full_pixel(plate, *field_outline(ra, -(32 + 35 / 60 + 24 / 3600), 60.0))
    assert inside(plate, x, y, margin=300).all()  # the 60' field, with >= 8.5' to spare


YEARS = {
    "103aE": (1949.0, 1959.0),  # POSS-I E
    ("IIIaJ", "GG395", "DSS1"): (1975.0, 1988.0),  # SERC J
    ("IIIaJ", "GG385"): (1985.0, 2001.0),  # POSS-II J
    ("IIIaF", "RG610"): (1985.0, 2001.0),  # POSS-II F
    ("IV-N", "RG9"): (1985.0, 2001.0),  # POSS-II N
    ("IIIaF", "OG590"): (1990.0, 2000.0),  # SERC / AAO R
    ("IIIaJ", "GG395", "DSS2"): (1975.0, 1995.0),  # SERC EJ
    ("IV-N", "RG715"): (1978.0, 2003.0),  # SERC I
}


def test_epochs_and_dates() -> None:
    for p in syn.survey_catalogue("DSS1") + syn.survey_catalogue("DSS2"):
        key = (
            p.emulsion
            if p.emulsion == "103aE"
            else (p.emulsion, p.filter, p.survey)
            if p.filter == "GG395"
            else (p.emulsion, p.filter)
        )
        lo, hi = YEARS[key]
        assert lo <= p.epoch < hi, p
        date = np.datetime64(p.date_obs)
        start = np.datetime64(f"{int(p.epoch)}-01-01")
        days = (np.datetime64(f"{int(p.epoch) + 1}-01-01") - start).astype(int)
        assert (date - start).astype(int) == int((p.epoch - int(p.epoch)) * days), p


# -- Headers ------------------------------------------------------------------------------------


def sample_plates() -> list[syn.PlateSpec]:
    sets = plate_sets()
    picks = [p for p in sets["DSS1"] if p.plate_id == "04IN"]
    picks += [sets["DSS1"][0], sets["DSS1"][400], sets["DSS2R"][0], sets["DSS2B"][900]]
    picks += [sets["DSS2I"][-1], sets["DSS2R"][300]]
    return picks


@pytest.mark.parametrize("spec", sample_plates(), ids=lambda p: f"{p.survey}-{p.plate_id}")
def test_wcs_agrees_with_the_dss_polynomial(spec: syn.PlateSpec) -> None:
    header = syn.plate_header(spec)
    w = wcs_of(spec)
    n = spec.naxis
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-0.5, n - 0.5, 3000), [-0.5, n - 0.5, -0.5, n - 0.5]])
    y = np.concatenate([rng.uniform(-0.5, n - 0.5, 3000), [-0.5, -0.5, n - 0.5, n - 0.5]])
    ra, dec = syn.dss_pixel_to_world(header, x, y)
    ra_w, dec_w = w.all_pix2world(x, y, 0)
    assert angular_distance_deg(ra, dec, ra_w, dec_w).max() * MAS_PER_DEG < 1.0
    # sky -> pixel -> sky round trip, over the whole plate
    xx, yy = w.all_world2pix(ra_w, dec_w, 0)
    ra2, dec2 = w.all_pix2world(xx, yy, 0)
    assert angular_distance_deg(ra2, dec2, ra_w, dec_w).max() * MAS_PER_DEG < 1.0
    assert_allclose(xx, x, atol=1e-6)
    assert_allclose(yy, y, atol=1e-6)
    # the plate centre is the central pixel, 1-based (n + 1) / 2
    ra_c, dec_c = w.all_pix2world([(n + 1) / 2], [(n + 1) / 2], 1)
    assert angular_distance_deg(ra_c[0], dec_c[0], spec.ra_deg, spec.dec_deg) * MAS_PER_DEG < 1.0
    # pixels are ~1.7" (DSS1) or ~1.0" (DSS2), east to the left, north up
    ra_e, dec_e = w.all_pix2world([n / 2 - 1.5, n / 2 - 0.5], [n / 2 - 0.5, n / 2 + 0.5], 0)
    step = angular_distance_deg(ra_e, dec_e, ra_c[0], dec_c[0]) * 3600
    assert_allclose(step, spec.pixel_scale_arcsec, rtol=2e-3)
    assert dec_e[1] > dec_c[0]


@pytest.mark.parametrize("spec", sample_plates()[:3], ids=lambda p: f"{p.survey}-{p.plate_id}")
def test_partial_scan_maps_like_the_full_plate(spec: syn.PlateSpec) -> None:
    x0, y0 = 3210, 5087
    part = WCS(syn.plate_header(spec, x0=x0, y0=y0, nx=700, ny=400))
    ra, dec = part.all_pix2world([0.0, 350.5, 699.0], [0.0, 200.25, 399.0], 0)
    x, y = wcs_of(spec).all_world2pix(ra, dec, 0)
    assert_allclose(x, np.array([0.0, 350.5, 699.0]) + x0, atol=1e-7)
    assert_allclose(y, np.array([0.0, 200.25, 399.0]) + y0, atol=1e-7)
    header = syn.plate_header(spec, x0=x0, y0=y0, nx=700, ny=400)
    assert (header["CNPIX1"], header["CNPIX2"], header["NAXIS1"], header["NAXIS2"]) == (
        x0,
        y0,
        700,
        400,
    )
    with pytest.raises(ValueError, match="does not lie on"):
        syn.plate_header(spec, x0=spec.naxis - 10, y0=0, nx=20, ny=20)


def real_dss_header() -> fits.Header:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the real header has a malformed SKEW card
        return fits.getheader(REAL_DSS)


def test_header_mimics_the_real_dss_header() -> None:
    real = real_dss_header()
    spec = sample_plates()[0]
    ours = syn.plate_header(spec)
    real_keys = [k for k in real if k not in ("DATE", "COMMENT", "")]
    real_keys = [*real_keys[: real_keys.index("AMDY20") + 1], "DATAMAX", "DATAMIN"]
    our_keys = iter(list(ours))
    assert all(k in our_keys for k in real_keys), "real DSS keywords out of order or missing"
    for key in ("EMULSION", "FILTER", "PLTSIZEX", "PLTSIZEY", "SYNTHET"):
        assert key in ours
    assert ours["SYNTHET"] is True
    for card in ours.cards:
        card.verify("exception")  # our own card formatting is valid FITS
    assert "SYNTHETIC PLATE" in str(ours["COMMENT"]) and "dssportal" in str(ours["HISTORY"])
    assert ours["BITPIX"] == 16 and ours["PLTSCALE"] == 67.2
    assert ours["PPO3"] == pytest.approx(spec.naxis / 2 * spec.pixel_um)
    assert ours["PPO6"] == pytest.approx(spec.naxis / 2 * spec.pixel_um)
    assert ours["XPIXELSZ"] == real["XPIXELSZ"]  # both SERC J, DSS1
    # Plate-solution terms of the same size and sign as on the real plate.
    assert abs(ours["AMDX1"] - 67.2) < 0.1 and abs(ours["AMDY1"] - 67.2) < 0.1
    assert abs(ours["AMDX2"]) < 0.6 and abs(ours["AMDY2"]) < 0.6
    assert ours["AMDX3"] == 0 and ours["AMDY3"] == 0  # centre on the central pixel
    for key in ("AMDX8", "AMDX10", "AMDY8", "AMDY10"):  # the Schmidt's r^3 term
        assert 0.8 < ours[key] / real[key] < 1.25
    for key in ("AMDX4", "AMDX5", "AMDX6", "AMDY4", "AMDY5", "AMDY6"):
        assert abs(ours[key]) < 1e-4
    assert ours["DATE-OBS"].startswith(spec.date_obs)


def test_real_dss_header_agrees_with_our_polynomial() -> None:
    """The forward polynomial used to make and test headers is the DSS one."""
    real = real_dss_header()
    for key in [k for k in real if k.startswith(("CTYPE", "CRPIX", "CRVAL", "CD", "PC0", "CD"))]:
        del real[key]
    for key in ("CROTA1", "CROTA2", "CDELT1", "CDELT2", "SKEW"):
        real.remove(key, ignore_missing=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = WCS(real)
    x, y = np.meshgrid(np.arange(0.0, 100.0, 9.0), np.arange(0.0, 100.0, 11.0))
    ra, dec = syn.dss_pixel_to_world(real, x.ravel(), y.ravel())
    ra_w, dec_w = w.all_pix2world(x.ravel(), y.ravel(), 0)
    assert angular_distance_deg(ra, dec, ra_w, dec_w).max() * MAS_PER_DEG < 1.0


# -- Pixels -------------------------------------------------------------------------------------


def scan_around(spec: syn.PlateSpec, ra: float, dec: float, size: int) -> fits.Header:
    x, y = sky_to_full_pixel(spec, ra, dec)
    x0 = int(np.clip(round(x[0]) - size // 2, 0, spec.naxis - size))
    y0 = int(np.clip(round(y[0]) - size // 2, 0, spec.naxis - size))
    return syn.plate_header(spec, x0=x0, y0=y0, nx=size, ny=size)


def plate_holding(name: str, ra: float, dec: float, *, skip: str = "") -> syn.PlateSpec:
    plates = [p for p in plate_sets()[name] if p.plate_id != skip]
    dist = angular_distance_deg([p.ra_deg for p in plates], [p.dec_deg for p in plates], ra, dec)
    for i in np.argsort(dist)[:6]:
        x, y = sky_to_full_pixel(plates[i], ra, dec)
        if inside(plates[i], x, y, margin=400).all():
            return plates[i]
    raise LookupError((name, ra, dec))


def test_rendering_is_deterministic_and_plausible() -> None:
    spec = plate_holding("DSS2R", 150.0, 20.0)
    header = scan_around(spec, 150.0, 20.0, 500)
    rows: list[int] = []
    a = syn.render_plate_pixels(spec, header, seed=1, progress=rows.append)
    b = syn.render_plate_pixels(spec, header, seed=1)
    c = syn.render_plate_pixels(spec, header, seed=2)
    assert a.dtype == np.int16 and a.shape == (500, 500)
    assert sum(rows) == 500 and len(rows) >= 2
    assert np.array_equal(a, b)
    assert np.mean(a != c) > 0.5
    with pytest.raises(ValueError, match="not a header of plate"):
        syn.render_plate_pixels(plate_holding("DSS2B", 150.0, 20.0), header)
    assert a.min() >= syn.DATA_MIN and a.max() <= syn.DATA_MAX
    sky = np.median(a)
    assert 4000 < sky < 9000
    noise = 1.4826 * np.median(np.abs(a - sky))
    assert 40 < noise < 400
    assert (a > sky + 10 * noise).sum() > 20  # stars


def test_overlapping_scans_of_a_plate_agree() -> None:
    spec = plate_holding("DSS1", 150.0, 20.0)
    a = syn.render_plate_pixels(spec, syn.plate_header(spec, x0=5000, y0=6000, nx=400, ny=300))
    b = syn.render_plate_pixels(spec, syn.plate_header(spec, x0=5150, y0=6100, nx=400, ny=300))
    same = a[100:, 150:] == b[:200, :250]
    assert same.mean() > 0.999


def test_the_same_star_on_two_overlapping_plates() -> None:
    # Two neighbouring DSS2 R plates of one ring, and a star in their overlap.
    plates = plate_sets()["DSS2R"]
    first = next(p for p in plates if p.dec_deg == 30.0)
    second = min(
        (p for p in plates if p.dec_deg == 30.0 and p is not first),
        key=lambda p: angular_distance_deg(p.ra_deg, p.dec_deg, first.ra_deg, first.dec_deg),
    )
    ra_mid = first.ra_deg + ((second.ra_deg - first.ra_deg + 180) % 360 - 180) / 2
    stars = syn.sky_stars(ra_mid, 30.0, 0.3, seed=0)
    mag = stars.mag("R")
    bright = stars.select(mag < 19.0)
    candidates = np.flatnonzero((mag > 14.0) & (mag < 17.0))
    for i in candidates:
        d = angular_distance_deg(bright.ra_deg, bright.dec_deg, stars.ra_deg[i], stars.dec_deg[i])
        if np.sum(d * 3600 < 20) == 1:  # only itself within 20"
            break
    else:
        pytest.fail("no isolated star")
    ra, dec = stars.ra_deg[i], stars.dec_deg[i]
    for spec in (first, second):
        header = scan_around(spec, ra, dec, 64)
        x, y = WCS(header).all_world2pix([ra], [dec], 0)
        x, y = float(x[0]), float(y[0])
        assert 20 < x < 44 and 20 < y < 44
        image = syn.render_plate_pixels(spec, header, seed=0)
        window = image[int(y) - 4 : int(y) + 6, int(x) - 4 : int(x) + 6]
        wy, wx = np.unravel_index(np.argmax(window), window.shape)
        assert abs(int(x) - 4 + wx - x) <= 1.0 and abs(int(y) - 4 + wy - y) <= 1.0
        assert window.max() > np.median(image) + 1000


def test_ngc253_is_brighter_than_the_sky_around_it() -> None:
    ra, dec = 11.888, -25.2882  # OpenNGC
    spec = plate_holding("DSS1", ra, dec)
    header = scan_around(spec, ra, dec, 900)  # 25' on DSS1
    image = syn.render_plate_pixels(spec, header, seed=0).astype(float)
    x, y = WCS(header).all_world2pix([ra], [dec], 0)
    cx, cy = int(x[0]), int(y[0])
    galaxy = image[cy - 40 : cy + 40, cx - 40 : cx + 40].mean()
    blank = image[20:100, 20:100]  # ~11' from the centre, off the disc (PA 53)
    assert galaxy > blank.mean() + 3000
    assert image.max() >= 19000  # saturated core


def test_star_counts_follow_the_magnitude_law() -> None:
    stars = syn.sky_stars(180.0, 60.0, 1.5, seed=0)  # b ~ +56
    mag = stars.mag("R")
    counts = [np.sum(mag < m) for m in (14.0, 20.0)]
    slope = math.log10(counts[1] / counts[0]) / 6.0
    assert 0.27 < slope < 0.33
    area = 2 * math.pi * (1 - math.cos(math.radians(1.5))) * (180 / math.pi) ** 2
    assert 1000 < np.sum(mag < 21) / area < 3000
    plane = syn.sky_stars(266.4, -29.0, 0.5, seed=0)  # towards the galactic centre
    pole = syn.sky_stars(192.9, 27.1, 0.5, seed=0)
    assert len(plane) > 4 * len(pole)


def test_stars_are_the_same_whichever_way_they_are_asked_for() -> None:
    a = syn.sky_stars(40.0, -60.0, 1.0, seed=5)
    b = syn.sky_stars(40.5, -60.3, 1.0, seed=5)
    both_a = angular_distance_deg(a.ra_deg, a.dec_deg, 40.5, -60.3) <= 1.0
    common_b = np.sort(b.ra_deg[angular_distance_deg(b.ra_deg, b.dec_deg, 40.0, -60.0) <= 1.0])
    assert_allclose(np.sort(a.ra_deg[both_a]), common_b)


# -- The demo sky -----------------------------------------------------------------------------


@cache
def demo() -> list[syn.DemoScan]:
    return syn.demo_scans()


def covered_by(scan: syn.DemoScan, ra, dec) -> bool:
    w = WCS(scan.header())
    x, y = w.all_world2pix(ra, dec, 0)
    return bool(((x >= -0.5) & (x <= scan.nx - 0.5) & (y >= -0.5) & (y <= scan.ny - 0.5)).all())


def test_demo_serves_the_example_lines() -> None:
    scans = demo()
    fk4 = SkyCoord("12h05m13s", "+30d45m32s", frame=FK4(equinox="B1950"))
    field01 = fk4.transform_to(FK5(equinox="J2000"))
    n7793 = SkyCoord("23h57m49.4s", "-32d35m24s")
    ngc253 = SkyCoord("0h47m34.3s", "-25d17m32s")
    examples = [
        ("field01", field01, 10.0, {"DSS1"}, None),
        ("N7793", n7793, 60.0, {"DSS1"}, "04IN"),
        ("NGC253", ngc253, 45.0, {"DSS2"}, None),
    ]
    for name, c, size, surveys, plate_id in examples:
        outline = field_outline(c.ra.deg, c.dec.deg, size)
        full = [
            s
            for s in scans
            if name in s.targets and s.spec.survey in surveys and covered_by(s, *outline)
        ]
        assert full, name
        if plate_id:
            assert plate_id in {s.spec.plate_id for s in full}


def test_demo_has_pixels_on_every_plate_holding_an_example() -> None:
    scans = {(s.spec.survey, s.spec.plate_id): s for s in demo()}
    assert len(scans) == len(demo())  # one scan per plate
    for target in syn.demo_targets():
        for plates in plate_sets().values():
            for spec in plates:
                if (
                    angular_distance_deg(spec.ra_deg, spec.dec_deg, target.ra_deg, target.dec_deg)
                    > 5
                ):
                    continue
                x, y = sky_to_full_pixel(spec, target.ra_deg, target.dec_deg)
                if inside(spec, x, y).all():
                    scan = scans[(spec.survey, spec.plate_id)]
                    assert target.name in scan.targets
                    assert covered_by(scan, [target.ra_deg], [target.dec_deg])


def test_demo_is_modest() -> None:
    scans = demo()
    for s in scans:
        assert (
            s.x0 >= 0 and s.x0 + s.nx <= s.spec.naxis and s.y0 >= 0 and s.y0 + s.ny <= s.spec.naxis
        )
    assert sum(s.pixels for s in scans) < 320_000_000
    showcase = {t.name: t for t in syn.demo_targets() if not t.example}
    assert set(showcase) >= {"M31", "M42", "M51", "M101"}
    assert all(10 < t.size_arcmin <= 60 for t in showcase.values())
