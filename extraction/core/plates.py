"""Plate geometry for DSS scans: plate solution, digitized area, field boxes and plate selection.

Pure numpy/astropy; no Django.

Coordinate conventions used throughout this module
--------------------------------------------------
*Stored-image pixels* ``(x, y)``
    0-based, pixel centres at integers, ``x`` along FITS axis 1 (``NAXIS1``, the numpy
    column, ``array[:, x]``) and ``y`` along FITS axis 2 (``NAXIS2``, the numpy row,
    ``array[y, :]``). Pixel ``(x, y)`` covers ``[x - 0.5, x + 0.5) x [y - 0.5, y + 0.5)``.
    This is what the store reads (``array[y0:y1, x0:x1]``). A FITS 1-based pixel ``i`` is
    ``x = i - 1``.
*Full-plate DSS pixels* ``(X, Y)``
    The continuous coordinates used by the DSS plate model, GetImage and WCSTools
    ``platepos``, and by the ``OBJCTX``/``OBJCTY`` keywords: ``X = CNPIX1 + i - 0.5`` for
    the 1-based FITS pixel ``i`` of an image whose corner is ``CNPIX1``, hence
    ``X = CNPIX1 + x + 0.5``. Full-plate pixel *index* ``k`` (an integer, as in ``CNPIX1``)
    spans ``[k, k + 1)`` in ``X``; a full DSS1 plate spans ``0 <= X <= 14000``.
*Sky*
    Right ascension and declination in degrees, J2000 (the DSS plate solutions are
    referred to FK5 J2000).

The plate solution is read by ``astropy.wcs.WCS``: WCSLIB recognises the DSS keywords
(PLTRAH..., PPO1-6, AMDX/AMDY, XPIXELSZ, CNPIX1/2) and turns them into a TAN projection with
a ``TPD`` polynomial distortion that reproduces the DSS plate model to ~1e-10 arcsec (see
``tests/test_plates.py``); we never evaluate the polynomial ourselves.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.wcs import WCS

from extraction.core.sky import angular_distance_deg as angular_distance_deg
from extraction.core.surveys import SURVEYS, survey_for_pixel_size

FloatArray = npt.NDArray[np.float64]

#: Field centres further than this from the plate centre are never covered: the plate is
#: ~6.5 deg across, and beyond this the extrapolated plate polynomial means nothing.
MAX_FIELD_DISTANCE_DEG = 10.0


_POSITION_KEYWORDS = ("PLTRAH", "PLTRAM", "PLTRAS", "PLTDECSN", "PLTDECD", "PLTDECM", "PLTDECS")
#: The keywords a header needs to carry a DSS plate solution. AMDX/AMDY 14-20 are magnitude
#: and colour terms that neither WCSLIB nor GetImage use, so they are optional.
DSS_REQUIRED_KEYWORDS: tuple[str, ...] = (
    *_POSITION_KEYWORDS,
    "PPO3",
    "PPO6",
    "XPIXELSZ",
    "YPIXELSZ",
    *(f"AMDX{i}" for i in range(1, 14)),
    *(f"AMDY{i}" for i in range(1, 14)),
)
_DSS_OPTIONAL_KEYWORDS: tuple[str, ...] = (
    "PLTSCALE",
    "PPO1",
    "PPO2",
    "PPO4",
    "PPO5",
    *(f"AMDX{i}" for i in range(14, 21)),
    *(f"AMDY{i}" for i in range(14, 21)),
)


class DSSHeaderError(ValueError):
    """A FITS header does not carry a usable DSS plate solution."""


def missing_dss_keywords(header: Mapping[str, Any]) -> list[str]:
    """Return the DSS plate-solution keywords absent from ``header``, in canonical order."""
    return [key for key in DSS_REQUIRED_KEYWORDS if key not in header]


def plate_centre_deg(header: Mapping[str, Any]) -> tuple[float, float]:
    """Plate centre (RA, Dec) in degrees J2000 from the PLTRA*/PLTDEC* keywords."""
    ra_h = header["PLTRAH"] + header["PLTRAM"] / 60.0 + header["PLTRAS"] / 3600.0
    dec = header["PLTDECD"] + header["PLTDECM"] / 60.0 + header["PLTDECS"] / 3600.0
    sign = -1.0 if str(header["PLTDECSN"]).strip().startswith("-") else 1.0
    return (15.0 * ra_h) % 360.0, sign * dec


def dss_solution_header(header: Mapping[str, Any]) -> fits.Header:
    """Return a minimal header holding only the DSS plate solution, in a safe card order.

    WCSLIB (as bundled with astropy 8.0) names the WCS after ``PLATEID`` and misbehaves when
    that card is missing (it reads an uninitialised name) or comes after the last plate
    solution card (it fails with "NAXES was not set"). It also prefers the DSS solution over
    any approximate CTYPE/CD cards, but we drop those anyway so that nothing but the plate
    solution can define the WCS.

    Raises
    ------
    DSSHeaderError
        When required DSS keywords are missing.
    """
    missing = missing_dss_keywords(header)
    if missing:
        raise DSSHeaderError("no DSS plate solution: missing keywords " + ", ".join(missing))
    out = fits.Header()
    out["NAXIS"] = 2
    for key in ("NAXIS1", "NAXIS2"):
        if int(header.get(key, 0) or 0) > 0:
            out[key] = int(header[key])
    out["PLATEID"] = str(header.get("PLATEID", "UNKNOWN")).strip() or "UNKNOWN"
    out["EQUINOX"] = float(header.get("EQUINOX", 2000.0))
    # A full-plate header may omit the corner; spell out the default rather than rely on it.
    out["CNPIX1"] = int(header.get("CNPIX1", 0))
    out["CNPIX2"] = int(header.get("CNPIX2", 0))
    for key in (*DSS_REQUIRED_KEYWORDS, *_DSS_OPTIONAL_KEYWORDS):
        if key in header:
            out[key] = header[key]
    return out


@dataclass(frozen=True)
class DigitizedArea:
    """The scanned part of a plate, in full-plate pixel indices.

    Full-plate pixel indices ``x0 .. x0 + nx - 1`` along X (FITS axis 1) and ``y0 .. y0 + ny - 1``
    along Y were digitized; for a stored scan ``x0, y0 = CNPIX1, CNPIX2`` and
    ``nx, ny = NAXIS1, NAXIS2``.
    """

    x0: int
    y0: int
    nx: int
    ny: int

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> DigitizedArea | None:
        """The area of the image a header describes, or ``None`` without NAXIS1/NAXIS2."""
        nx, ny = int(header.get("NAXIS1", 0) or 0), int(header.get("NAXIS2", 0) or 0)
        if nx <= 0 or ny <= 0:
            return None
        return cls(int(header.get("CNPIX1", 0)), int(header.get("CNPIX2", 0)), nx, ny)

    @classmethod
    def full_plate(cls, survey: str) -> DigitizedArea:
        """The nominal full plate of ``survey`` (``"DSS1"`` or ``"DSS2"``)."""
        size = SURVEYS[survey].plate_size_px
        return cls(0, 0, size, size)


#: TPV index of the term ``u^(n-j) v^j`` is ``_TPV_FIRST_INDEX[n] + j`` (``k = 3, 11, 23`` are
#: the odd radial terms, never used): ``PV1`` takes ``(u, v) = (x, y)``, ``PV2`` ``(y, x)``.
_TPV_FIRST_INDEX = {0: 0, 1: 1, 2: 4, 3: 7, 4: 12, 5: 17}
_ARCSEC_PER_DEG = 3600.0


@dataclass(frozen=True)
class TpvSolution:
    """The DSS plate solution written as a TAN projection with TPV distortion, exactly.

    The DSS model is a polynomial of degree five in plate millimetres ``(x, y)`` from the
    plate centre, giving the standard coordinates ``(xi, eta)`` about the plate centre;
    ``eta`` swaps the roles of ``x`` and ``y`` as TPV does. With ``CRVAL`` the plate centre,
    ``CD`` the millimetre size of a pixel times a plate scale, and ``CRPIX`` the pixel at
    ``x = y = 0``, the 13 AMDX/AMDY terms (the radial ones expanded) are TPV terms: nothing
    is fitted, and the two WCSs differ only by the rounding of the cards (AMDX/AMDY 14-20,
    magnitude and colour terms, are left out, as WCSLIB and GetImage leave them out).

    ``centre_x``/``centre_y`` are the full-plate DSS pixel ``X = PPO3 / XPIXELSZ``,
    ``Y = PPO6 / YPIXELSZ`` of the plate centre; ``pv1``/``pv2`` the non-zero ``(k,
    coefficient)`` pairs, 0 and 1 always present.
    """

    crval: tuple[float, float]
    cd: tuple[float, float]
    centre_x: float
    centre_y: float
    pv1: tuple[tuple[int, float], ...]
    pv2: tuple[tuple[int, float], ...]

    def crpix(self, cnpix1: int, cnpix2: int) -> tuple[float, float]:
        """FITS 1-based ``CRPIX`` of an image whose corner is ``(CNPIX1, CNPIX2)``: its pixel
        ``i`` is ``X = CNPIX1 + i - 0.5``."""
        return self.centre_x - cnpix1 + 0.5, self.centre_y - cnpix2 + 0.5

    @classmethod
    def from_dss(cls, solution: Mapping[str, Any]) -> TpvSolution:
        """The TPV form of the plate solution in ``solution`` (see ``dss_solution_header``)."""
        x_um, y_um = float(solution["XPIXELSZ"]), float(solution["YPIXELSZ"])
        plate_scale = solution.get("PLTSCALE") or math.hypot(solution["AMDX1"], solution["AMDX2"])
        # Intermediate coordinates in degrees: mm times the nominal scale, so PVi_1 is ~1.
        deg_per_mm = float(plate_scale) / _ARCSEC_PER_DEG
        pvs = []
        for axis in "XY":
            amd = [float(solution.get(f"AMD{axis}{i}", 0.0)) for i in range(1, 14)]
            pvs.append(
                tuple(
                    (k, c / _ARCSEC_PER_DEG / deg_per_mm ** _tpv_degree(k))
                    for k, c in _amd_as_tpv(amd)
                    if c != 0.0 or k in (0, 1)
                )
            )
        return cls(
            crval=plate_centre_deg(solution),
            cd=(-x_um / 1000.0 * deg_per_mm, y_um / 1000.0 * deg_per_mm),
            centre_x=float(solution["PPO3"]) / x_um,
            centre_y=float(solution["PPO6"]) / y_um,
            pv1=pvs[0],
            pv2=pvs[1],
        )


def _tpv_degree(k: int) -> int:
    return max(n for n, first in _TPV_FIRST_INDEX.items() if first <= k)


def _amd_as_tpv(c: list[float]) -> list[tuple[int, float]]:
    """The 13-term DSS polynomial in ``(u, v)`` as TPV terms ``(k, coefficient)``:
    ``c1 u + c2 v + c3 + c4 u^2 + c5 uv + c6 v^2 + c7 (u^2 + v^2) + c8 u^3 + c9 u^2 v
    + c10 u v^2 + c11 v^3 + c12 u (u^2 + v^2) + c13 u (u^2 + v^2)^2`` (``c`` 0-based here)."""
    return [
        (0, c[2]),
        (1, c[0]), (2, c[1]),
        (4, c[3] + c[6]), (5, c[4]), (6, c[5] + c[6]),
        (7, c[7] + c[11]), (8, c[8]), (9, c[9] + c[11]), (10, c[10]),
        (17, c[12]), (19, 2.0 * c[12]), (21, c[12]),
    ]  # fmt: skip


@dataclass(frozen=True)
class FieldBox:
    """An axis-aligned pixel box, 0-based half-open, in stored-image pixels.

    The box holds columns ``x0 <= x < x1`` (FITS axis 1) and rows ``y0 <= y < y1`` (FITS axis 2)
    of the stored image: ``array[y0:y1, x0:x1]``. It may extend beyond the image and the
    digitized area. ``origin_x``/``origin_y`` are the stored image's CNPIX1/CNPIX2.
    """

    x0: int
    x1: int
    y0: int
    y1: int
    origin_x: int = 0
    origin_y: int = 0

    @property
    def nx(self) -> int:
        """Width in pixels (FITS NAXIS1 of the cut-out)."""
        return self.x1 - self.x0

    @property
    def ny(self) -> int:
        """Height in pixels (FITS NAXIS2 of the cut-out)."""
        return self.y1 - self.y0

    @property
    def shape(self) -> tuple[int, int]:
        """Numpy shape ``(ny, nx)``."""
        return (self.ny, self.nx)

    @property
    def slices(self) -> tuple[slice, slice]:
        """Numpy index ``(rows, cols)`` into the stored image; only valid inside the image."""
        return (slice(self.y0, self.y1), slice(self.x0, self.x1))

    @property
    def cnpix(self) -> tuple[int, int]:
        """CNPIX1, CNPIX2 of a cut-out of this box: its first pixel's full-plate index."""
        return (self.origin_x + self.x0, self.origin_y + self.y0)

    @property
    def centre(self) -> tuple[float, float]:
        """Box centre ``(x, y)`` in 0-based stored-image pixel coordinates."""
        return ((self.x0 + self.x1 - 1) / 2.0, (self.y0 + self.y1 - 1) / 2.0)


@dataclass(frozen=True)
class Coverage:
    """How a plate covers a field.

    Attributes
    ----------
    box
        The field's pixel box, or ``None`` when the field centre is too far from the plate
        (> ``MAX_FIELD_DISTANCE_DEG`` or not projectable).
    full
        The box lies entirely inside the digitized area.
    margin_px, margin_arcmin
        Smallest distance from the box to the edge of the digitized area (pixels, arcmin);
        negative when the box sticks out, ``-inf`` without a box.
    fraction
        Fraction (0..1) of the box's pixels that lie on the digitized area.
    centre_inside
        The field centre lies on the digitized area.
    distance_deg
        Angular distance from the field centre to the plate centre (PLTRA/PLTDEC), degrees.
    scale_arcsec
        Local pixel scale at the field centre used to size the box (arcsec/pixel), ``nan``
        without a box.
    scanned
        The digitized area is the part scanned here (the default). False: the coverage of
        the whole catalogued plate, of which only another part is scanned here; it tells
        what the plate covers, never what can be cut.
    """

    box: FieldBox | None
    full: bool
    margin_px: float
    margin_arcmin: float
    fraction: float
    centre_inside: bool
    distance_deg: float
    scale_arcsec: float
    scanned: bool = True

    @property
    def covered(self) -> bool:
        """Any part of the field lies on the digitized area."""
        return self.fraction > 0.0

    @classmethod
    def none(cls, distance_deg: float) -> Coverage:
        """The coverage of a field the plate cannot see at all."""
        return cls(None, False, -math.inf, -math.inf, 0.0, False, distance_deg, math.nan)


def _round_half_up(value: float) -> int:
    # Python's round() rounds half to even; a box must not shift with the parity of a number.
    return math.floor(value + 0.5)


class PlateGeometry:
    """The astrometric geometry of one DSS plate scan.

    Parameters
    ----------
    header
        A DSS FITS header (real or synthetic) with the plate solution. ``CNPIX1/2`` and
        ``NAXIS1/2`` define the stored-image frame.
    area
        The digitized area in full-plate pixel indices. Default: the image the header
        describes (CNPIX, NAXIS); without NAXIS1/2, the nominal full plate of the survey
        recognised from XPIXELSZ.

    Notes
    -----
    ``astropy.wcs.WCS`` is not thread-safe (astropy 8.0), so every transformation takes a
    per-plate lock; one geometry can be shared by the threads of a worker.
    """

    def __init__(self, header: Mapping[str, Any], *, area: DigitizedArea | None = None) -> None:
        solution = dss_solution_header(header)
        #: The plate-solution cards only (see ``dss_solution_header``), not the whole header.
        self.solution_header = solution
        self.plate_id: str = solution["PLATEID"]
        self.origin_x: int = solution["CNPIX1"]
        self.origin_y: int = solution["CNPIX2"]
        self.plate_ra_deg, self.plate_dec_deg = plate_centre_deg(solution)
        self.pixel_size_um = float(solution["XPIXELSZ"])
        self.survey = survey_for_pixel_size(self.pixel_size_um)
        self.area = area or DigitizedArea.from_header(solution) or self._nominal_area()
        self.wcs = self._read_wcs(solution)
        #: The same solution as a standard TAN-TPV WCS, for the cut-outs' alternate WCS.
        self.tpv = TpvSolution.from_dss(solution)
        self._lock = threading.Lock()

    def _nominal_area(self) -> DigitizedArea:
        if self.survey is None:
            raise DSSHeaderError(
                f"plate {self.plate_id}: no NAXIS1/NAXIS2 and pixel size "
                f"{self.pixel_size_um} um is neither DSS1 nor DSS2; give the digitized area"
            )
        return DigitizedArea.full_plate(self.survey)

    def _read_wcs(self, solution: fits.Header) -> WCS:
        # The minimal header has no DATE-OBS or old-style cards, so WCSLIB has nothing to "fix"
        # and warn about; no warnings filter (a process-wide state) is needed here.
        wcs = WCS(solution)
        wcs.wcs.set()  # once, here: wcsset() from several threads at once is unsafe
        ra0, dec0 = wcs.wcs.crval
        # Guard against a WCSLIB that stops translating DSS keywords: the TAN reference point
        # must be the plate centre.
        if abs(angular_distance_deg(ra0, dec0, self.plate_ra_deg, self.plate_dec_deg)) > 1e-6:
            raise DSSHeaderError(
                f"plate {self.plate_id}: WCSLIB did not translate the DSS plate solution "
                f"(reference point {ra0:.6f} {dec0:.6f})"
            )
        return wcs

    # -- Pixel frames -------------------------------------------------------------------

    def pixel_to_plate(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """0-based stored-image pixels -> full-plate DSS pixels ``X = CNPIX1 + x + 0.5``."""
        x_arr, y_arr = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        return x_arr + self.origin_x + 0.5, y_arr + self.origin_y + 0.5

    def plate_to_pixel(
        self, plate_x: npt.ArrayLike, plate_y: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Full-plate DSS pixels -> 0-based stored-image pixels (inverse of ``pixel_to_plate``)."""
        px, py = np.asarray(plate_x, dtype=float), np.asarray(plate_y, dtype=float)
        return px - self.origin_x - 0.5, py - self.origin_y - 0.5

    # -- Sky <-> pixel ------------------------------------------------------------------

    def pixel_to_sky(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """0-based stored-image pixels ``(x, y)`` -> (RA, Dec) degrees J2000, RA in [0, 360)."""
        x_arr, y_arr = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        with self._lock:
            ra, dec = self.wcs.all_pix2world(x_arr, y_arr, 0)
        return np.mod(ra, 360.0), np.asarray(dec, dtype=float)

    def sky_to_pixel(
        self, ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """(RA, Dec) degrees J2000 -> 0-based stored-image pixels ``(x, y)``.

        Positions further than ``MAX_FIELD_DISTANCE_DEG`` from the plate centre come back as
        NaN: the plate polynomial is meaningless there, and its inversion may not converge.
        """
        ra, dec = np.broadcast_arrays(
            np.asarray(ra_deg, dtype=float), np.asarray(dec_deg, dtype=float)
        )
        near = self.distance_deg(ra, dec) <= MAX_FIELD_DISTANCE_DEG
        x = np.full(ra.shape, np.nan)
        y = np.full(ra.shape, np.nan)
        if near.any():
            with self._lock:
                x[near], y[near] = self.wcs.all_world2pix(ra[near], dec[near], 0)
        return x, y

    def distance_deg(self, ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike) -> FloatArray:
        """Angular distance (degrees) from the plate centre (PLTRA/PLTDEC)."""
        return angular_distance_deg(ra_deg, dec_deg, self.plate_ra_deg, self.plate_dec_deg)

    # -- Scale --------------------------------------------------------------------------

    @property
    def nominal_scale_arcsec(self) -> float:
        """Nominal pixel scale in arcsec/pixel: XPIXELSZ [um] * PLTSCALE [arcsec/mm] / 1000."""
        solution = self.solution_header
        plate_scale = solution.get("PLTSCALE") or math.hypot(solution["AMDX1"], solution["AMDX2"])
        return self.pixel_size_um * float(plate_scale) / 1000.0

    def local_scales_arcsec(self, x: float, y: float) -> tuple[float, float]:
        """Pixel scale (arcsec/pixel) along x and along y at stored-image pixel ``(x, y)``."""
        ra, dec = self.pixel_to_sky([x - 0.5, x + 0.5, x, x], [y, y, y - 0.5, y + 0.5])
        scale_x = angular_distance_deg(ra[0], dec[0], ra[1], dec[1]) * 3600.0
        scale_y = angular_distance_deg(ra[2], dec[2], ra[3], dec[3]) * 3600.0
        return float(scale_x), float(scale_y)

    def local_scale_arcsec(self, x: float, y: float) -> float:
        """Local pixel scale (arcsec/pixel) at ``(x, y)``: geometric mean of the two axes."""
        scale_x, scale_y = self.local_scales_arcsec(x, y)
        return math.sqrt(scale_x * scale_y)

    # -- Fields -------------------------------------------------------------------------

    def field_box(
        self, ra_deg: float, dec_deg: float, width_arcmin: float, height_arcmin: float
    ) -> FieldBox | None:
        """The pixel box of a field, or ``None`` when the plate cannot see its centre."""
        return self.coverage(ra_deg, dec_deg, width_arcmin, height_arcmin).box

    def coverage(
        self, ra_deg: float, dec_deg: float, width_arcmin: float, height_arcmin: float
    ) -> Coverage:
        """How this plate covers a field centred at (RA, Dec) degrees J2000.

        The box has ``round(width * 60 / scale)`` x ``round(height * 60 / scale)`` pixels
        (at least 1), where ``scale`` is the local pixel scale at the field centre, and is
        placed so that its centre is within 0.5 pixel of the field centre's pixel position.
        """
        distance = float(self.distance_deg(ra_deg, dec_deg))
        if distance > MAX_FIELD_DISTANCE_DEG:
            return Coverage.none(distance)
        xs, ys = self.sky_to_pixel(ra_deg, dec_deg)
        xc, yc = float(xs), float(ys)
        if not (math.isfinite(xc) and math.isfinite(yc)):
            return Coverage.none(distance)
        scale = self.local_scale_arcsec(xc, yc)
        box = self._box_around(xc, yc, width_arcmin * 60.0 / scale, height_arcmin * 60.0 / scale)
        return self._coverage_of(box, xc, yc, scale, distance)

    def _box_around(self, xc: float, yc: float, nx_float: float, ny_float: float) -> FieldBox:
        nx = max(1, _round_half_up(nx_float))
        ny = max(1, _round_half_up(ny_float))
        # The centre of pixels x0 .. x0+nx-1 is x0 + (nx-1)/2; round it onto the field centre.
        x0 = _round_half_up(xc - (nx - 1) / 2.0)
        y0 = _round_half_up(yc - (ny - 1) / 2.0)
        return FieldBox(x0, x0 + nx, y0, y0 + ny, self.origin_x, self.origin_y)

    def area_box(self) -> FieldBox:
        """The digitized area as a box in stored-image pixels."""
        ax0 = self.area.x0 - self.origin_x
        ay0 = self.area.y0 - self.origin_y
        return FieldBox(
            ax0, ax0 + self.area.nx, ay0, ay0 + self.area.ny, self.origin_x, self.origin_y
        )

    def _coverage_of(
        self, box: FieldBox, xc: float, yc: float, scale: float, distance: float
    ) -> Coverage:
        area = self.area_box()
        margin = min(box.x0 - area.x0, area.x1 - box.x1, box.y0 - area.y0, area.y1 - box.y1)
        overlap_x = max(0, min(box.x1, area.x1) - max(box.x0, area.x0))
        overlap_y = max(0, min(box.y1, area.y1) - max(box.y0, area.y0))
        # Pixel k covers [k - 0.5, k + 0.5), so the area spans [x0 - 0.5, x1 - 0.5).
        centre_inside = (area.x0 - 0.5 <= xc < area.x1 - 0.5) and (
            area.y0 - 0.5 <= yc < area.y1 - 0.5
        )
        return Coverage(
            box=box,
            full=margin >= 0,
            margin_px=float(margin),
            margin_arcmin=margin * scale / 60.0,
            fraction=overlap_x * overlap_y / (box.nx * box.ny),
            centre_inside=centre_inside,
            distance_deg=distance,
            scale_arcsec=scale,
        )


# -- Candidate pre-filter ---------------------------------------------------------------


class PlateIndex:
    """All plate centres of a survey, for a fast angular pre-filter.

    Parameters
    ----------
    ra_deg, dec_deg
        Plate centres, degrees J2000, one per plate.
    plate_ids
        Identifiers in the same order (returned indices refer to this order).
    """

    def __init__(
        self, ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike, plate_ids: Iterable[str]
    ) -> None:
        self.ra_deg = np.asarray(ra_deg, dtype=float).ravel()
        self.dec_deg = np.asarray(dec_deg, dtype=float).ravel()
        self.plate_ids = list(plate_ids)
        if not (len(self.ra_deg) == len(self.dec_deg) == len(self.plate_ids)):
            raise ValueError("ra_deg, dec_deg and plate_ids must have the same length")

    def __len__(self) -> int:
        return len(self.plate_ids)

    def distances_deg(self, ra_deg: float, dec_deg: float) -> FloatArray:
        """Angular distance (degrees) from (RA, Dec) to every plate centre."""
        return angular_distance_deg(ra_deg, dec_deg, self.ra_deg, self.dec_deg)

    def candidates(self, ra_deg: float, dec_deg: float, radius_deg: float) -> npt.NDArray[np.intp]:
        """Indices (ascending) of the plates whose centre is within ``radius_deg`` degrees."""
        return np.flatnonzero(self.distances_deg(ra_deg, dec_deg) <= radius_deg)


def search_radius_deg(
    *, plate_size_px: int, scale_arcsec: float, width_arcmin: float, height_arcmin: float
) -> float:
    """A pre-filter radius (degrees) that cannot miss a plate touching the field.

    The plate's half-diagonal plus the field's half-diagonal, plus 2 % for the gnomonic
    projection and the plate distortion (both well under 1 % on a DSS plate).
    """
    plate_half_diagonal = plate_size_px * scale_arcsec / 3600.0 * math.sqrt(0.5)
    field_half_diagonal = math.hypot(width_arcmin, height_arcmin) / 120.0
    return 1.02 * (plate_half_diagonal + field_half_diagonal)


# -- Selection (modes e and c) ----------------------------------------------------------

P = TypeVar("P")


@dataclass(frozen=True)
class Selection(Generic[P]):
    """The plate chosen for a field, its coverage, and whether the field is clipped."""

    plate: P
    coverage: Coverage
    clipped: bool


def _default_tie_key(plate: object) -> str:
    return str(getattr(plate, "plate_id", plate))


def select_edge(
    pairs: Iterable[tuple[P, Coverage]], *, tie_key: Callable[[P], Any] = _default_tie_key
) -> Selection[P] | None:
    """Mode ``e``: the plate whose digitized edge is furthest from the field.

    Among the plates covering the whole field, the largest ``margin_arcmin``; when none
    does, the largest covered ``fraction`` (flagged ``clipped``). Ties go to the smallest
    ``tie_key`` (the plate id). ``None`` when no plate touches the field.
    """
    pairs = list(pairs)
    full = [(p, c) for p, c in pairs if c.full]
    if full:
        plate, cov = min(full, key=lambda pc: (-pc[1].margin_arcmin, tie_key(pc[0])))
        return Selection(plate, cov, clipped=False)
    touching = [(p, c) for p, c in pairs if c.covered]
    if not touching:
        return None
    plate, cov = min(touching, key=lambda pc: (-pc[1].fraction, tie_key(pc[0])))
    return Selection(plate, cov, clipped=True)


def select_centre(
    pairs: Iterable[tuple[P, Coverage]], *, tie_key: Callable[[P], Any] = _default_tie_key
) -> Selection[P] | None:
    """Mode ``c``: among plates whose digitized area holds the field centre, the nearest centre.

    Ties go to the smallest ``tie_key`` (the plate id). ``clipped`` says whether the chosen
    plate misses part of the field. ``None`` when no plate holds the field centre.
    """
    inside = [(p, c) for p, c in pairs if c.centre_inside]
    if not inside:
        return None
    plate, cov = min(inside, key=lambda pc: (pc[1].distance_deg, tie_key(pc[0])))
    return Selection(plate, cov, clipped=not cov.full)


def select_touching(
    pairs: Iterable[tuple[P, Coverage]], *, tie_key: Callable[[P], Any] = _default_tie_key
) -> list[tuple[P, Coverage]]:
    """Mode ``n``: every plate on which any part of the field lies, nearest centre first."""
    touching = [(p, c) for p, c in pairs if c.covered]
    return sorted(touching, key=lambda pc: (pc[1].distance_deg, tie_key(pc[0])))
