"""Cut-out headers: three readings of the sky agree within 0.1", and fitsverify finds no error.

The readings are the ones a user meets: astropy's ``WCS(header)`` on the whole header, the DSS
plate-solution keywords alone, and the standard WCS keywords alone. The reference is the DSS
plate model evaluated directly from the plate's own header (``dss_pixel_to_world``, the
polynomial of the DSS documentation, independent of WCSLIB and of the cut-out writer).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from extraction.core.cutout import STANDARD_WCS_KEY, cutout_build, fits_bytes, standard_wcs_cards
from extraction.core.plates import DSS_REQUIRED_KEYWORDS, PlateGeometry, angular_distance_deg
from extraction.core.platestore import BoxRead
from extraction.synthetic import dss_pixel_to_world, plate_header, survey_catalogue
from tests.factories import REAL_DSS

TOLERANCE_ARCSEC = 0.1
#: The plate-solution keywords as STScI writes them (CNPIX and PLATEID included).
DSS_KEYWORDS = {
    *DSS_REQUIRED_KEYWORDS,
    "PLATEID",
    "PLTSCALE",
    "CNPIX1",
    "CNPIX2",
    *(f"PPO{i}" for i in range(1, 7)),
    *(f"AMDX{i}" for i in range(1, 21)),
    *(f"AMDY{i}" for i in range(1, 21)),
}
STANDARD_PREFIXES = (
    "WCSNAME",
    "WCSAXES",
    "CTYPE",
    "CRPIX",
    "CRVAL",
    "CUNIT",
    "CDELT",
    "CD1_",
    "CD2_",
    "PC1_",
    "PC2_",
    "PV1_",
    "PV2_",
    "RADESYS",
    "EQUINOX",
    "LONPOLE",
    "LATPOLE",
    "A_",
    "B_",
    "AP_",
    "BP_",
)


def cut_out(header: fits.Header, x: float, y: float, size_arcmin: float = 60.0) -> fits.Header:
    """The header of a ``size`` x ``size`` cut-out centred on stored pixel ``(x, y)``."""
    geometry = PlateGeometry(header)
    ra, dec = geometry.pixel_to_sky(x, y)
    box = geometry.coverage(float(ra), float(dec), size_arcmin, size_arcmin).box
    assert box is not None
    pixels = BoxRead(np.zeros(box.shape, np.int16), np.ones(box.shape, bool), box.slices, -32768)
    cutout = cutout_build(
        geometry=geometry,
        plate_header=header,
        pixels=pixels,
        box=box,
        identifier="t",
        ra_deg=float(ra),
        dec_deg=float(dec),
    )
    return fits.Header.fromstring("".join(cutout.cards))


def three_readings(header: fits.Header, u: np.ndarray, v: np.ndarray) -> dict[str, tuple]:
    """Sky (RA, Dec) of 0-based cut-out pixels ``(u, v)`` read three ways."""
    dss_alone = fits.Header(
        [c for c in header.cards if not c.keyword.startswith(STANDARD_PREFIXES)]
    )
    standard_alone = fits.Header([c for c in header.cards if c.keyword not in DSS_KEYWORDS])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return {
            "WCS(header)": WCS(header).all_pix2world(u, v, 0),
            "DSS keywords alone": WCS(dss_alone).all_pix2world(u, v, 0),
            "standard keywords alone": WCS(standard_alone, key=STANDARD_WCS_KEY).all_pix2world(
                u, v, 0
            ),
        }


def assert_readings_agree(header: fits.Header, reference_header: fits.Header) -> None:
    nx, ny = header["NAXIS1"], header["NAXIS2"]
    gu, gv = np.meshgrid(np.linspace(0, nx - 1, 7), np.linspace(0, ny - 1, 7))
    u, v = gu.ravel(), gv.ravel()
    # The plate model itself, from the plate's own header: cut-out pixel u is plate pixel
    # CNPIX1(cut-out) - CNPIX1(plate) + u of the plate's stored image.
    ra_ref, dec_ref = dss_pixel_to_world(
        reference_header,
        u + header["CNPIX1"] - reference_header["CNPIX1"],
        v + header["CNPIX2"] - reference_header["CNPIX2"],
    )
    for name, (ra, dec) in three_readings(header, u, v).items():
        offsets = angular_distance_deg(ra, dec, ra_ref, dec_ref) * 3600.0
        assert offsets.max() < TOLERANCE_ARCSEC, f"{name}: {offsets.max():.3f} arcsec"


def synthetic_plate(survey: str) -> fits.Header:
    return plate_header(survey_catalogue(survey)[100])


@pytest.mark.parametrize("survey", ["DSS1", "DSS2"])
@pytest.mark.parametrize("where", ["corner", "edge", "centre"])
def test_three_readings_agree_over_60_arcmin_synthetic_cut_outs(survey: str, where: str) -> None:
    header = synthetic_plate(survey)
    n = header["NAXIS1"]
    # 35' from the plate edge: the 60' field just fits inside the plate.
    inset = 35 * 60 / PlateGeometry(header).nominal_scale_arcsec
    x, y = {"corner": (inset, n - inset), "edge": (n - inset, n / 2), "centre": (n / 2, n / 2)}[
        where
    ]
    assert_readings_agree(cut_out(header, x, y), header)


def real_dss_header() -> fits.Header:
    with gzip.open(REAL_DSS) as handle, fits.open(handle) as hdul:
        return hdul[0].header.copy()


@pytest.mark.parametrize("corner", [(50, 50), (0, 0), (99, 99), (0, 99)])
def test_three_readings_agree_over_60_arcmin_cut_outs_of_the_real_dss_plate(
    corner: tuple[int, int],
) -> None:
    header = real_dss_header()
    assert_readings_agree(cut_out(header, *corner), header)


def amd_terms_with_every_degree(header: fits.Header) -> fits.Header:
    """``header`` with the radial terms AMDX/AMDY 7, 12 and 13 (r^2, r^2 x, r^4 x), zero on
    these plates, set to sizes of a few arcsec at the plate's edge: every term counts."""
    header = header.copy()
    for axis in "XY":
        header[f"AMD{axis}7"] = 4.0e-5
        header[f"AMD{axis}12"] = 1.5e-6
        header[f"AMD{axis}13"] = -2.0e-11
    return header


@pytest.mark.parametrize("source", ["DSS1", "DSS2", "real"])
def test_the_standard_wcs_is_the_plate_solution_itself_across_the_whole_plate(
    source: str,
) -> None:
    """WCS ``A`` is not fitted: it is the DSS polynomial written as TAN-TPV, so it agrees with
    the plate model to the rounding of its cards wherever the image lies on the plate, and
    beyond the cut-out, out to the plate's corners (the independent reference again)."""
    plate = amd_terms_with_every_degree(
        real_dss_header() if source == "real" else synthetic_plate(source)
    )
    geometry = PlateGeometry(plate)
    size = geometry.area.nx
    for cnpix1, cnpix2 in ((0, 0), (size // 2, size // 3), (size - 200, size - 200)):
        cards = standard_wcs_cards(geometry.tpv, cnpix1 + plate["CNPIX1"], cnpix2 + plate["CNPIX2"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(fits.Header.fromstring("".join(cards)), key=STANDARD_WCS_KEY)
        # Plate pixels 0 .. size of this survey, in the image's own 0-based pixels.
        gx, gy = np.meshgrid(np.linspace(0, size, 9), np.linspace(0, size, 9))
        u, v = gx.ravel() - cnpix1, gy.ravel() - cnpix2
        ra, dec = wcs.all_pix2world(u, v, 0)
        ra_ref, dec_ref = dss_pixel_to_world(plate, gx.ravel(), gy.ravel())
        offsets = angular_distance_deg(ra, dec, ra_ref, dec_ref) * 3600.0
        assert offsets.max() < 1e-6, f"{offsets.max():.2e} arcsec at corner {cnpix1, cnpix2}"
        # And WCSLIB inverts it (by iteration, as TPV has no closed inverse) onto the pixels.
        back_u, back_v = wcs.all_world2pix(ra_ref, dec_ref, 0)
        assert np.abs(back_u - u).max() < 1e-6 and np.abs(back_v - v).max() < 1e-6


def test_the_dss_keyword_set_is_kept_as_stsci_writes_it() -> None:
    plate = real_dss_header()
    header = cut_out(plate, 50, 50, size_arcmin=10.0)
    for key in ("EPOCH", "PLTSCALE", "PLATEID", "PPO3", "AMDX1", "AMDY13", "PLTRAH", "EQUINOX"):
        assert header[key] == plate[key], key
    assert header["PLTSCALE"] == 67.2
    assert header["CNPIX1"] != plate["CNPIX1"] or header["CNPIX2"] != plate["CNPIX2"]
    assert "CTYPE1" not in header  # the primary WCS is the plate solution alone
    counts = Counter(k for k in header if k not in ("COMMENT", "HISTORY", ""))
    assert [k for k, n in counts.items() if n > 1] == []


def fitsverify(path: Path) -> str:
    executable = shutil.which("fitsverify")
    if executable is None:
        pytest.fail("fitsverify is missing: run scripts/ensure-test-tools (Debian fitsverify)")
    result = subprocess.run([executable, str(path)], capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


@pytest.mark.parametrize("source", ["DSS1", "DSS2", "real"])
def test_fitsverify_finds_no_error_and_no_duplicated_keyword(source: str, tmp_path: Path) -> None:
    plate = real_dss_header() if source == "real" else synthetic_plate(source)
    geometry = PlateGeometry(plate)
    x, y = (80, 20) if source == "real" else (500, 500)  # the real scan is 100 px: clipped
    ra, dec = geometry.pixel_to_sky(x, y)
    box = geometry.coverage(float(ra), float(dec), 5.0, 5.0).box
    assert box is not None
    data = np.arange(box.nx * box.ny, dtype=np.int16).reshape(box.shape)
    valid = np.ones(box.shape, bool)
    valid[:, : box.nx // 3] = False  # as a clipped field: BLANK is written
    cutout = cutout_build(
        geometry=geometry,
        plate_header=plate,
        pixels=BoxRead(data, valid, None, -32768),
        box=box,
        identifier="NGC 253/x",
        ra_deg=float(ra),
        dec_deg=float(dec),
    )
    path = tmp_path / "cut.fits"
    path.write_bytes(fits_bytes(cutout))
    report = fitsverify(path)
    assert "Verification found" in report, report
    assert " 0 error(s)" in report, report
    assert "duplicate" not in report.lower(), report


def xy2sky(path: Path, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WCSTools' reading of the sky at 0-based pixels ``(u, v)`` of the image at ``path``."""
    executable = shutil.which("xy2sky")
    if executable is None:
        pytest.fail("xy2sky is missing: run scripts/ensure-test-tools (Debian wcstools)")
    pixels = [f"{p + 1:.3f}" for pair in zip(u, v, strict=True) for p in pair]
    result = subprocess.run(
        [executable, "-d", "-n", "8", str(path), *pixels],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert len(rows) == len(u), result.stdout + result.stderr
    return np.array([float(r[0]) for r in rows]), np.array([float(r[1]) for r in rows])


@pytest.mark.parametrize("source", ["DSS1", "DSS2", "real"])
def test_wcstools_reads_both_wcss_of_a_cut_out_as_the_plate_model(
    source: str, tmp_path: Path
) -> None:
    """WCSTools (``xy2sky``, its own reader of DSS plate solutions and of TPV) gives the sky
    of the reference plate model from the cut-out file as written, and from its standard WCS
    alone made primary (as software that knows no alternate WCS would take it)."""
    plate = amd_terms_with_every_degree(
        real_dss_header() if source == "real" else synthetic_plate(source)
    )
    x, y = (50, 50) if source == "real" else (plate["NAXIS1"] * 0.8, plate["NAXIS2"] * 0.15)
    header = cut_out(plate, x, y, size_arcmin=30.0)
    pixels = np.zeros((header["NAXIS2"], header["NAXIS1"]), np.int16)
    as_written = tmp_path / "cut.fits"
    fits.PrimaryHDU(pixels, header=header).writeto(as_written)
    standard = fits.Header()
    for card in header.cards:
        keyword = card.keyword
        if keyword.endswith(STANDARD_WCS_KEY) and keyword.startswith(STANDARD_PREFIXES):
            standard[keyword[:-1]] = card.value
    standard_only = tmp_path / "standard.fits"
    fits.PrimaryHDU(pixels, header=standard).writeto(standard_only)
    gu, gv = np.meshgrid(np.linspace(0, header["NAXIS1"] - 1, 4), [0, header["NAXIS2"] - 1])
    u, v = gu.ravel(), gv.ravel()
    ra_ref, dec_ref = dss_pixel_to_world(
        plate, u + header["CNPIX1"] - plate["CNPIX1"], v + header["CNPIX2"] - plate["CNPIX2"]
    )
    for path in (as_written, standard_only):
        ra, dec = xy2sky(path, u, v)
        offsets = angular_distance_deg(ra, dec, ra_ref, dec_ref) * 3600.0
        # 8 decimals of a degree: 0.000036".
        assert offsets.max() < 0.001, f"{path.name}: {offsets.max():.4f} arcsec"
