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

from extraction.core.cutout import STANDARD_WCS_KEY, cutout_build, fit_tpv, fits_bytes
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


@pytest.mark.parametrize("degree", [3, 4, 5])
@pytest.mark.parametrize("survey", ["DSS1", "DSS2"])
def test_the_numpy_reading_of_the_fit_used_for_its_check_is_astropys_reading_of_its_cards(
    survey: str, degree: int
) -> None:
    """The writer checks its TPV fit against the plate solution in numpy (no astropy WCS per
    cut-out): that evaluation must be the sky ``WCS(header, key="A")`` reads from the cards."""
    header = synthetic_plate(survey)
    geometry = PlateGeometry(header)
    n = header["NAXIS1"]
    ra, dec = geometry.pixel_to_sky(n * 0.2, n * 0.7)
    box = geometry.coverage(float(ra), float(dec), 45.0, 30.0).box
    assert box is not None
    fit = fit_tpv(geometry, box, degree=degree)
    gu, gv = np.meshgrid(np.linspace(-3, box.nx + 2, 9), np.linspace(-3, box.ny + 2, 9))
    u, v = gu.ravel(), gv.ravel()
    ra_numpy, dec_numpy = fit.pixel_to_sky(u, v)
    written = fits.Header.fromstring("".join(fit.cards()))
    ra_astropy, dec_astropy = WCS(written, key=STANDARD_WCS_KEY).all_pix2world(u, v, 0)
    offsets = angular_distance_deg(ra_numpy, dec_numpy, ra_astropy, dec_astropy) * 3600.0
    assert offsets.max() < 1e-6


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
