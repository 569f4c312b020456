"""DSS plate solutions and FITS headers of synthetic plates, and reading them back.

``plate_solution`` draws the AMDX/AMDY coefficients of a plate, ``plate_header`` writes the
header of a full plate or of a partial scan, ``dss_pixel_to_world`` evaluates the DSS plate
model of a header directly (to generate and test headers), and ``header_wcs`` and
``plate_sky_to_pixel`` read headers through ``astropy.wcs.WCS`` (WCSLIB's translation of the
DSS keywords), which is what readers and the renderer use.

Conventions are the package's (see ``extraction.synthetic``): image pixels ``(x, y)``
are 0-based numpy-style pixel centres, ``x`` along FITS axis 1; the full-plate DSS pixel is
``X = CNPIX1 + x + 0.5``. Plate coordinates are mm from the plate centre, standard
coordinates ``xi, eta`` arcsec, sky positions RA/Dec J2000 degrees. ``DATA_MIN`` and
``DATA_MAX`` bound the values the renderer writes and go into every header.
"""

from __future__ import annotations

import datetime as dt
import math
import textwrap
import threading
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import astropy.units as u
import numpy as np
import numpy.typing as npt
from astropy.coordinates import Angle
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from extraction.core.sky import gnomonic_deproject_deg
from extraction.synthetic.common import (
    _ARCSEC_PER_RAD,
    FloatArray,
    _digest,
    _is_leap,
    _rng,
)
from extraction.synthetic.survey import (
    _FOCAL_LENGTH_MM,
    _SITES,
    PlateSpec,
    _programme_of,
)


@lru_cache(maxsize=8192)
def plate_solution(spec: PlateSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The DSS plate solution of a plate: the AMDX1-20 and AMDY1-20 coefficients.

    Returns
    -------
    amdx, amdy
        20 coefficients each; ``xi, eta`` in arcsec for plate coordinates ``x, y`` in mm
        (terms 14-20, magnitude and colour terms, are zero). Deterministic per plate.

    Notes
    -----
    A Schmidt plate maps angle to distance (``r = f theta``), so relative to the gnomonic
    standard coordinates its solution has ``xi = S x (1 + r^2 / 3 f^2)`` (AMDX8 = AMDX10 =
    AMDY8 = AMDY10 = S / 3f^2 ~ 2.4e-6 arcsec/mm^3, as in real DSS solutions), plus a small
    scale error (<= 1e-3), a rotation (|angle| <= 0.3 deg: AMDX2 = -AMDY2 ~ 0.2 arcsec/mm)
    and small quadratic and odd cubic terms of the size seen on real plates. Constant terms
    (AMDX3, AMDY3) are zero, so the plate centre falls on the central pixel. The bounds keep
    the nominal area within ~1.3 arcmin of the ideal gnomonic square of the layout.
    """
    rng = _rng("solution", spec.survey, spec.band, spec.region, spec.emulsion)
    s = spec.scale_arcsec_per_mm
    cubic = s / (3.0 * _FOCAL_LENGTH_MM**2)

    def bounded(sigma: float, limit: float, size: int = 1) -> FloatArray:
        return np.clip(rng.normal(0.0, sigma, size), -limit, limit)

    rotation = math.radians(float(bounded(0.1, 0.3)[0]))
    sx, sy = 1.0 + bounded(3e-4, 1e-3, 2)
    skew = float(bounded(2e-4, 6e-4)[0])
    quad_x, quad_y = bounded(1.5e-5, 4e-5, 3), bounded(1.5e-5, 4e-5, 3)
    odd_x, odd_y = bounded(1.2e-7, 3e-7, 2), bounded(1.2e-7, 3e-7, 2)
    c8x, c10x, c8y, c10y = cubic * (1.0 + bounded(0.02, 0.05, 4))
    amdx = [s * sx * math.cos(rotation), -s * sx * math.sin(rotation) + s * skew, 0.0]
    amdx += [*quad_x, 0.0, c8x, odd_x[0], c10x, odd_x[1]]
    amdy = [s * sy * math.cos(rotation), s * sy * math.sin(rotation), 0.0]
    amdy += [*quad_y, 0.0, c8y, odd_y[0], c10y, odd_y[1]]
    amdx += [0.0] * (20 - len(amdx))
    amdy += [0.0] * (20 - len(amdy))
    return tuple(float(v) for v in amdx), tuple(float(v) for v in amdy)


def _sexagesimal(value_deg: float, *, hours: bool) -> tuple[str, int, int, float]:
    """Sign, units, minutes and seconds of an angle (hours for RA), by astropy ``Angle``."""
    scaled = value_deg / 15.0 if hours else value_deg  # hours split as degrees are
    sign, units, minutes, seconds = Angle(scaled, unit=u.deg).signed_dms
    return ("-" if sign < 0 else "+"), int(units), int(minutes), float(seconds)


def _ut_of(spec: PlateSpec) -> float:
    """UT hours of the exposure, from ``epoch`` and ``date_obs``."""
    date = dt.date.fromisoformat(spec.date_obs)
    days = 366 if _is_leap(date.year) else 365
    day_fraction = (spec.epoch - date.year) * days - (date.timetuple().tm_yday - 1)
    return min(max(day_fraction, 0.0), 0.99999) * 24.0


#: Values the renderer can produce (photographic fog level to saturation), for DATAMIN/MAX.
DATA_MIN = 2000
DATA_MAX = 22000

_SYNTHETIC_NOTE = (
    "SYNTHETIC PLATE made by dssportal (extraction.synthetic): not a scan of a real "
    "photographic plate. Plate layout, dates, labels and plate solution imitate the DSS; "
    "stars are random, galaxies and nebulae are OpenNGC objects at their catalogue "
    "positions. Do not use for science."
)


def plate_header(
    spec: PlateSpec,
    *,
    x0: int = 0,
    y0: int = 0,
    nx: int | None = None,
    ny: int | None = None,
) -> fits.Header:
    """The DSS FITS header of a full plate or of a partial scan of it.

    Parameters
    ----------
    spec
        The plate.
    x0, y0
        Full-plate pixel index of the scan's first column and row (``CNPIX1``, ``CNPIX2``);
        0-based, 0 for a full plate.
    nx, ny
        Scan size in pixels (``NAXIS1``, ``NAXIS2``); default: to the plate edge.

    Returns
    -------
    astropy.io.fits.Header
        The keywords of a real DSS header in the real order (SIMPLE ... PLTLABEL, PLATEID,
        REGION, DATE-OBS, ..., PLTRAH ... PLTDECS, ..., CNPIX1/2, XPIXELSZ, PPO1-6,
        AMDX1-20, AMDY1-20, DATAMAX, DATAMIN), plus EMULSION, FILTER, PLTSIZEX/Y, MJD-OBS,
        ``SYNTHET = T`` and COMMENT/HISTORY cards saying the plate is synthetic. The plate
        model (PPO3/PPO6 = half the plate in microns, so the centre is the central pixel)
        is the one ``astropy.wcs.WCS`` reads natively; ``dss_pixel_to_world`` evaluates it.
        DATAMIN/DATAMAX give the range the renderer can produce, not the actual extremes.

    Raises
    ------
    ValueError
        If the scan is empty or does not lie on the plate.
    """
    n = spec.naxis
    nx = n - x0 if nx is None else nx
    ny = n - y0 if ny is None else ny
    if not (x0 >= 0 and y0 >= 0 and nx >= 1 and ny >= 1 and x0 + nx <= n and y0 + ny <= n):
        raise ValueError(f"scan x0={x0} y0={y0} nx={nx} ny={ny} does not lie on the {n}x{n} plate")
    prog = _programme_of(spec)
    site = _SITES[prog.site]
    _, rah, ram, ras = _sexagesimal(spec.ra_deg % 360.0, hours=True)
    decsn, decd, decm, decs = _sexagesimal(spec.dec_deg, hours=False)
    ut_h = _ut_of(spec)
    ut_s = round(ut_h * 3600.0)
    hh, mm, ss = ut_s // 3600, ut_s // 60 % 60, ut_s % 60
    mjd = (dt.date.fromisoformat(spec.date_obs) - dt.date(1858, 11, 17)).days + ut_s / 86400.0
    amdx, amdy = plate_solution(spec)
    half_um = n / 2.0 * spec.pixel_um
    grade = 1 + _digest("grade", spec.survey, spec.region, spec.band)[0] % 3
    cards: list[tuple[str, Any, str]] = [
        ("SIMPLE", True, "FITS header"),
        ("BITPIX", 16, "No.Bits per pixel"),
        ("NAXIS", 2, "No.dimensions"),
        ("NAXIS1", nx, "Length X axis"),
        ("NAXIS2", ny, "Length Y axis"),
        ("EXTEND", True, ""),
        ("ORIGIN", "dssportal synthetic sky", "Origin of FITS image"),
        ("SYNTHET", True, "Synthetic plate, not a scan of a real plate"),
        ("PLTLABEL", spec.label, "Observatory plate label"),
        ("PLATEID", spec.plate_id, "GSSS Plate ID"),
        ("REGION", spec.region, "GSSS Region Name"),
        ("DATE-OBS", f"{spec.date_obs}T{hh:02d}:{mm:02d}:{ss:02d}", "UT date of Observation"),
        ("UT", f"{hh:02d}:{mm:02d}:{ss:02d}.00", "UT time of observation"),
        ("MJD-OBS", mjd, "Modified Julian Date of observation"),
        ("EPOCH", spec.epoch, "Epoch of plate"),
        ("PLTRAH", rah, "Plate center RA"),
        ("PLTRAM", ram, ""),
        ("PLTRAS", ras, ""),
        ("PLTDECSN", decsn, "Plate center Dec"),
        ("PLTDECD", decd, ""),
        ("PLTDECM", decm, ""),
        ("PLTDECS", decs, ""),
        ("EQUINOX", 2000.0, "Julian Reference frame equinox"),
        ("EXPOSURE", spec.exposure_min, "Exposure time minutes"),
        ("BANDPASS", prog.bandpass, "GSSS Bandpass code"),
        ("EMULSION", spec.emulsion, "Plate emulsion"),
        ("FILTER", spec.filter, "Filter"),
        ("PLTGRADE", grade, "Plate grade"),
        ("PLTSCALE", spec.scale_arcsec_per_mm, "Plate Scale arcsec per mm"),
        ("PLTSIZEX", spec.size_mm, "Plate X dimension (mm)"),
        ("PLTSIZEY", spec.size_mm, "Plate Y dimension (mm)"),
        ("SITELAT", site.latitude, "Latitude of Observatory"),
        ("SITELONG", site.longitude, "Longitude of Observatory"),
        ("TELESCOP", spec.telescope, "Telescope where plate taken"),
        ("CNPIX1", x0, "X corner  (pixels)"),
        ("CNPIX2", y0, "Y corner"),
        ("DATATYPE", "INTEGER*2", "Type of Data"),
        ("SCANIMG", f"{spec.region}_{spec.plate_id}_00_00.PIM", "Name of original scan"),
        ("SCANNUM", 0, "Identifies scan of the plate"),
        ("DCHOPPED", False, "Image repaired for chopping effects"),
        ("DSHEARED", False, "Image repaired for shearing effects"),
        ("DSCNDNUM", 0, "Identifies descendant of plate scan image"),
        ("XPIXELSZ", spec.pixel_um, "X pixel size microns"),
        ("YPIXELSZ", spec.pixel_um, "Y pixel size microns"),
        ("PPO1", 0.0, "Orientation Coefficients"),
        ("PPO2", 0.0, ""),
        ("PPO3", half_um, ""),
        ("PPO4", 0.0, ""),
        ("PPO5", 0.0, ""),
        ("PPO6", half_um, ""),
    ]
    for name, coeffs, what in (("AMDX", amdx, "x"), ("AMDY", amdy, "y")):
        for k, value in enumerate(coeffs, start=1):
            cards.append((f"{name}{k}", value, f"Plate solution {what} coefficients" * (k == 1)))
    cards += [
        ("DATAMAX", DATA_MAX, "Maximum data value"),
        ("DATAMIN", DATA_MIN, "Minimum data value"),
    ]
    images = [_card_image(*card) for card in cards]
    images += [f"COMMENT {line}".ljust(80) for line in textwrap.wrap(_SYNTHETIC_NOTE, 72)]
    history = f"dssportal synthetic {spec.survey} plate {spec.plate_id} ({prog.name})"
    images += [f"HISTORY {line}".ljust(80) for line in textwrap.wrap(history, 72)]
    return fits.Header.fromstring("".join(images))


def _card_image(keyword: str, value: Any, comment: str) -> str:
    """One 80-character FITS card in fixed format (what ``fits.Card`` would write).

    Formatting cards ourselves and parsing them with ``Header.fromstring`` is ~20x faster
    than building a ``Header`` card by card, which matters for catalogues of ~5000 plates.
    Floats keep up to 17 significant digits (14 when the value needs an exponent).
    """
    if isinstance(value, bool):
        text = ("T" if value else "F").rjust(20)
    elif isinstance(value, int):
        text = str(value).rjust(20)
    elif isinstance(value, float):
        text = _float_text(value).rjust(20)
    else:
        quoted = "'" + str(value).replace("'", "''").ljust(8) + "'"
        text = quoted.ljust(20)
    card = f"{keyword:<8}= {text}"
    if comment:
        card += f" / {comment}"
    if len(card) > 80:
        raise ValueError(f"card {keyword} does not fit in 80 characters")
    return card.ljust(80)


def _float_text(value: float) -> str:
    text = repr(float(value)).upper()
    if "." not in text and "E" not in text:
        text += ".0"
    if len(text) > 20:
        text = f"{value:.13E}"
    return text


def dss_pixel_to_world(
    header: Mapping[str, Any], x: npt.ArrayLike, y: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Evaluate the DSS plate model of a header: image pixels to RA/Dec.

    This is the forward DSS polynomial (as in the DSS documentation and WCSTools), used to
    generate and test synthetic headers; readers should use ``astropy.wcs.WCS(header)``,
    which translates the same keywords through WCSLIB.

    Parameters
    ----------
    header
        Header with PLTRAH..PLTDECS, CNPIX1/2, X/YPIXELSZ, PPO3, PPO6, AMDX1-13, AMDY1-13.
    x, y
        0-based image pixel coordinates (numpy column, row); the full-plate DSS pixel is
        ``X = CNPIX1 + x + 0.5``.

    Returns
    -------
    ra_deg, dec_deg
        J2000 degrees, RA in [0, 360).

    Notes
    -----
    ``x_mm = (PPO3 - XPIXELSZ X) / 1000``, ``y_mm = (YPIXELSZ Y - PPO6) / 1000``;
    ``xi, eta`` (arcsec) are the AMDX/AMDY polynomials in ``x_mm, y_mm``; RA/Dec follow by
    the inverse gnomonic projection about the plate centre.
    """
    big_x = header["CNPIX1"] + np.asarray(x, dtype=float) + 0.5
    big_y = header["CNPIX2"] + np.asarray(y, dtype=float) + 0.5
    xm = (header["PPO3"] - header["XPIXELSZ"] * big_x) / 1000.0
    ym = (header["YPIXELSZ"] * big_y - header["PPO6"]) / 1000.0
    a = [float(header.get(f"AMDX{k}", 0.0)) for k in range(1, 14)]
    b = [float(header.get(f"AMDY{k}", 0.0)) for k in range(1, 14)]
    xi = _amd_polynomial(a, xm, ym)
    eta = _amd_polynomial(b, ym, xm)
    ra0 = 15.0 * (header["PLTRAH"] + header["PLTRAM"] / 60 + header["PLTRAS"] / 3600)
    sign = -1.0 if str(header["PLTDECSN"]).strip() == "-" else 1.0
    dec0 = sign * (header["PLTDECD"] + header["PLTDECM"] / 60 + header["PLTDECS"] / 3600)
    return gnomonic_deproject_deg(ra0, dec0, xi / _ARCSEC_PER_RAD, eta / _ARCSEC_PER_RAD)


def _amd_polynomial(c: Sequence[float], u: FloatArray, v: FloatArray) -> FloatArray:
    """The 13-term DSS plate polynomial; ``(u, v) = (x, y)`` for xi, ``(y, x)`` for eta."""
    r2 = u * u + v * v
    return (
        c[0] * u + c[1] * v + c[2]
        + c[3] * u * u + c[4] * u * v + c[5] * v * v + c[6] * r2
        + c[7] * u**3 + c[8] * u * u * v + c[9] * u * v * v + c[10] * v**3
        + c[11] * u * r2 + c[12] * u * r2 * r2
    )  # fmt: skip


def header_wcs(header: fits.Header) -> WCS:
    """``astropy.wcs.WCS`` of a DSS header (WCSLIB translates the DSS keywords).

    ``FITSFixedWarning`` notes about the translation are silenced; synthetic headers
    produce none. Not thread-safe, like every astropy WCS.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header)


_WCS_LOCK = threading.Lock()


@lru_cache(maxsize=512)
def _full_plate_wcs(spec: PlateSpec) -> WCS:
    return header_wcs(plate_header(spec))


def plate_sky_to_pixel(
    spec: PlateSpec, ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """RA/Dec (J2000 deg) to 0-based full-plate image pixels through ``WCS(plate_header)``.

    A position is inside the nominal area when both results lie in ``[-0.5, naxis - 0.5]``.
    Positions more than ~10 deg from the plate centre give meaningless pixels. The WCS of
    the last 512 plates is cached (and used under a lock: astropy WCS is not thread-safe).
    """
    ra = np.atleast_1d(np.asarray(ra_deg, float))
    dec = np.atleast_1d(np.asarray(dec_deg, float))
    with _WCS_LOCK:
        x, y = _full_plate_wcs(spec).all_world2pix(ra, dec, 0)
    return np.asarray(x, float), np.asarray(y, float)
