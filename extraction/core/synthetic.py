"""A synthetic Digitized Sky Survey: plate catalogue, plate solutions and plate pixels.

Pure numpy/astropy/pyongc; no Django. No real plate archive is available here, so the portal
builds a sky in the real DSS format: plates laid out like the real surveys, DSS plate-solution
headers that ``astropy.wcs.WCS`` reads natively, and photographic-looking int16 pixels of one
sky model, so that the same star is at the same RA/Dec on every plate that sees it.

The surveys
-----------
DSS1
    POSS-I E (red, 103aE + red plexiglas, Palomar 48-inch Schmidt, 1949-1958) on a 6 deg grid
    of rings from dec +90 to -30, and SERC J (blue, IIIaJ + GG395, UK 48-inch Schmidt,
    1975-1987) on the 5 deg SERC grid south of the switch-over at dec -32.5. 14000 x 14000
    pixels of 25.28445 um (1.70 arcsec).
DSS2
    Three bands, each covering the whole sky: R (POSS-II F, IIIaF + RG610 / SERC-AAO R, IIIaF +
    OG590), B (POSS-II J, IIIaJ + GG385 / SERC-EJ, IIIaJ + GG395) and I (POSS-II N, IV-N + RG9 /
    SERC I, IV-N + RG715); POSS-II (Palomar, 1985-2000) on a 5 deg grid from +90 to 0, SERC
    fields from -5 to -90, switch-over at dec -2.5. 23040 x 23040 pixels of 15 um
    (1.008 arcsec).

Both Schmidts have a plate scale of 67.2 arcsec/mm; a digitized plate is ~6.5 deg square.
Rings of constant dec carry just enough plates (RA step ~ grid / cos dec) that plates 0.1 deg
smaller than the digitized area would still cover the sky; the polar plates sit 3.6 arcsec
off the pole (see ``_off_pole``).

The sky
-------
Stars are drawn per sky cell (1 deg in dec x ~1 deg on the sky in RA) from a generator seeded
by ``(seed, cell)``, with ``log10 N(<m) = 0.3 m + c`` and a density rising towards the
galactic plane; galaxies, nebulae and globular clusters are the OpenNGC objects (``pyongc``)
at their catalogue positions, sizes, position angles and magnitudes, drawn as Sersic
components (discs with bulges and spiral arms, de Vaucouleurs ellipticals, textured nebulae).
Pixels are exposure through a photographic characteristic curve, with a brightness-dependent
stellar image, sky gradient, vignetting and grain noise fixed per full-plate pixel.

API
---
``PlateSpec``, ``survey_catalogue`` (the plates), ``plate_header`` and ``plate_solution``
(their DSS headers), ``dss_pixel_to_world`` (the DSS plate model, for generating and testing
headers), ``plate_sky_to_pixel`` and ``header_wcs`` (astropy's reading of them),
``sky_stars`` and ``Stars`` (the star model), ``render_plate_pixels`` (pixels of a scan),
``DemoTarget``, ``demo_targets``, ``DemoScan`` and ``demo_scans`` (the demo sky).

Pixel conventions
-----------------
*Image pixels* ``(x, y)`` are 0-based numpy-style pixel centres of a stored image (scan):
``x`` along FITS axis 1 (``array[:, x]``), ``y`` along FITS axis 2 (``array[y, :]``).
*Full-plate DSS pixels* ``(X, Y)`` are the continuous coordinates of the DSS plate model:
``X = CNPIX1 + x + 0.5`` (equivalently ``CNPIX1 + i - 0.5`` for the 1-based FITS pixel
``i``); a full plate of ``N`` pixels spans ``0 <= X <= N`` and its centre is ``X = N / 2``,
the centre of the image (FITS pixel ``(N + 1) / 2``). The *nominal area* of a plate is this
whole digitized square. Sky positions are RA/Dec in degrees, J2000 (FK5).

Everything here is deterministic: the catalogue depends on nothing, pixels on ``seed``.
Nothing here is real data, and every header says so (``SYNTHET = T`` and a COMMENT).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import sqlite3
import statistics
import textwrap
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache, partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pyongc
from astropy.coordinates import FK4, FK5, SkyCoord
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

SURVEYS = ("DSS1", "DSS2")
BANDS = ("R", "B", "I")
#: Plate scale of both Schmidt telescopes (Palomar 48-inch and UK 48-inch), arcsec per mm.
PLATE_SCALE_ARCSEC_PER_MM = 67.2
#: Pixels per side of a fully digitized plate.
PLATE_SIZE_PX: dict[str, int] = {"DSS1": 14000, "DSS2": 23040}
#: Scanner pixel size, microns.
PIXEL_SIZE_UM: dict[str, float] = {"DSS1": 25.28445, "DSS2": 15.0}
#: The plate id ``REQUEST_FORMAT.md`` asks for: the SERC J plate of NGC 7793 (DSS1).
NGC7793_PLATE_ID = "04IN"
_NGC7793_J2000 = (359.4558333333333, -32.59)  # 23 57 49.4, -32 35 24
_NGC7793_FIELD_ARCMIN = 60.0

_ARCSEC_PER_RAD = 180.0 / math.pi * 3600.0
#: Focal length implied by the plate scale, mm (~3069 mm for 67.2 arcsec/mm).
_FOCAL_LENGTH_MM = _ARCSEC_PER_RAD / PLATE_SCALE_ARCSEC_PER_MM


# -- Plates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlateSpec:
    """One (synthetic) photographic plate of a survey, as the catalogue lists it.

    Attributes
    ----------
    survey
        ``"DSS1"`` or ``"DSS2"``.
    plate_id
        GSSS plate id, 4 characters ``[0-9][0-9A-Z]{3}`` (e.g. ``04IN``, ``0025``): a base-36
        serial number as on the real DSS, unique over all synthetic plates, never of the
        form of a region id.
    region
        GSSS region (survey field): a letter prefix and 3 digits. ``S123`` is SERC field 123
        (the same field in DSS1 and DSS2), ``XE123`` POSS-I field 123 (E plate), ``XJ``/``XF``/
        ``XN`` POSS-II fields (J/F/N plates).
    label
        Observatory plate label (``PLTLABEL``), emulsion letter and plate number, e.g.
        ``J 2098``; plate numbers increase with date per telescope.
    band
        Broad band: ``"R"``, ``"B"`` or ``"I"`` (POSS-I E counts as R, SERC J as B).
    emulsion, filter
        Kodak emulsion (``103aE``, ``IIIaJ``, ``IIIaF``, ``IV-N``) and filter (``GG395``,
        ``RG610``...).
    telescope
        ``TELESCOP`` value.
    epoch
        Decimal year of the exposure (UT), within the real survey years.
    date_obs
        UT date of the exposure, ISO ``YYYY-MM-DD``, consistent with ``epoch``.
    exposure_min
        Exposure time, minutes.
    ra_deg, dec_deg
        Plate centre, J2000 degrees; it falls on the central pixel of the full plate.
    naxis
        Pixels per side of the full digitized plate.
    pixel_um
        Scanner pixel size, microns.
    scale_arcsec_per_mm
        Plate scale, arcsec per mm.
    synthetic
        Always ``True``: these are not scans of real plates.
    """

    survey: str
    plate_id: str
    region: str
    label: str
    band: str
    emulsion: str
    filter: str
    telescope: str
    epoch: float
    date_obs: str
    exposure_min: float
    ra_deg: float
    dec_deg: float
    naxis: int
    pixel_um: float
    scale_arcsec_per_mm: float = PLATE_SCALE_ARCSEC_PER_MM
    synthetic: bool = True

    @property
    def pixel_scale_arcsec(self) -> float:
        """Pixel size on the sky at the plate centre, arcsec."""
        return self.pixel_um / 1000.0 * self.scale_arcsec_per_mm

    @property
    def size_mm(self) -> float:
        """Side of the digitized area, mm."""
        return self.naxis * self.pixel_um / 1000.0

    @property
    def half_size_deg(self) -> float:
        """Angular distance from the plate centre to the middle of an edge, degrees."""
        return self.size_mm / 2.0 * self.scale_arcsec_per_mm / 3600.0


@dataclass(frozen=True)
class _Programme:
    """One photographic survey programme: the plates of one emulsion/filter on one grid."""

    name: str
    survey: str
    band: str
    emulsion: str
    filter: str
    telescope: str
    site: str
    region_prefix: str
    label_letter: str
    years: tuple[float, float]
    exposures_min: tuple[float, ...]
    #: GSSS bandpass code. 0 (IIIaJ + GG395) is what real SERC J headers carry; the other
    #: codes are this module's own and need not match the GSSS table.
    bandpass: int


@dataclass(frozen=True)
class _Site:
    latitude: str
    longitude: str
    longitude_east_deg: float
    #: Plate-number series of the telescope: (first epoch, plates per year).
    series_start: float
    plates_per_year: float


_SITES: dict[str, _Site] = {
    "palomar-1": _Site("+33:21:21.60", "-116:51:46.80", -116.863, 1949.5, 170.0),
    "palomar-2": _Site("+33:21:21.60", "-116:51:46.80", -116.863, 1985.0, 420.0),
    "sso": _Site("-31:16:24.00", "+149:03:42.00", 149.0617, 1973.4, 720.0),
}

_PALOMAR_1 = "Palomar 48-inch Schmidt"
_PALOMAR_2 = "Oschin 48-inch Schmidt"
_UKST = "UK 48-inch Schmidt"

POSS_I_E = _Programme(
    "POSS-I E", "DSS1", "R", "103aE", "red plexiglas", _PALOMAR_1, "palomar-1", "XE", "E",
    (1949.85, 1958.45), (45.0, 50.0, 40.0), 8,
)  # fmt: skip
SERC_J = _Programme(
    "SERC J", "DSS1", "B", "IIIaJ", "GG395", _UKST, "sso", "S", "J",
    (1975.0, 1987.9), (60.0, 65.0, 70.0), 0,
)  # fmt: skip
POSS_II_F = _Programme(
    "POSS-II F", "DSS2", "R", "IIIaF", "RG610", _PALOMAR_2, "palomar-2", "XF", "F",
    (1985.6, 2000.4), (60.0, 70.0, 80.0), 35,
)  # fmt: skip
POSS_II_J = _Programme(
    "POSS-II J", "DSS2", "B", "IIIaJ", "GG385", _PALOMAR_2, "palomar-2", "XJ", "J",
    (1985.6, 2000.4), (60.0, 65.0, 70.0), 18,
)  # fmt: skip
POSS_II_N = _Programme(
    "POSS-II N", "DSS2", "I", "IV-N", "RG9", _PALOMAR_2, "palomar-2", "XN", "N",
    (1985.6, 2000.4), (85.0, 90.0, 80.0), 36,
)  # fmt: skip
SERC_R = _Programme(
    "SERC-AAO R", "DSS2", "R", "IIIaF", "OG590", _UKST, "sso", "S", "R",
    (1990.0, 1999.9), (60.0, 75.0, 90.0), 4,
)  # fmt: skip
SERC_EJ = _Programme(
    "SERC-EJ", "DSS2", "B", "IIIaJ", "GG395", _UKST, "sso", "S", "J",
    (1979.0, 1994.5), (60.0, 65.0, 70.0), 0,
)  # fmt: skip
SERC_I = _Programme(
    "SERC I", "DSS2", "I", "IV-N", "RG715", _UKST, "sso", "S", "I",
    (1980.0, 2001.9), (90.0, 80.0, 100.0), 9,
)  # fmt: skip


@dataclass(frozen=True)
class _Grid:
    """Survey fields: rings of constant dec, numbered from ``ring_decs[0]`` on.

    ``zone_limits`` bound the dec zones of the first and last rings (a pole, or the
    north/south switch-over); between rings the zone boundary is the midpoint.
    """

    name: str
    ring_decs: tuple[float, ...]
    zone_limits: tuple[float, float]
    #: Half-size of the smallest digitized area used on this grid, degrees.
    half_size_deg: float


def _half_size_deg(survey: str) -> float:
    return PLATE_SIZE_PX[survey] * PIXEL_SIZE_UM[survey] / 2000.0 * PLATE_SCALE_ARCSEC_PER_MM / 3600


#: Switch-over decs between the northern and southern programmes (midway between rings).
DSS1_SWITCH_DEC = -32.5
DSS2_SWITCH_DEC = -2.5

_POSS_I_GRID = _Grid(
    "POSS-I", tuple(float(d) for d in range(90, -31, -6)), (90.0, DSS1_SWITCH_DEC),
    _half_size_deg("DSS1"),
)  # fmt: skip
_POSS_II_GRID = _Grid(
    "POSS-II", tuple(float(d) for d in range(90, -1, -5)), (90.0, DSS2_SWITCH_DEC),
    _half_size_deg("DSS2"),
)  # fmt: skip
# SERC fields are numbered from the south pole, as on the real survey. The grid is shared by
# SERC J (DSS1, rings <= -35 only) and the DSS2 SERC plates, so that ``S123`` is one field.
_SERC_GRID = _Grid(
    "SERC", tuple(float(d) for d in range(-90, -4, 5)), (-90.0, DSS2_SWITCH_DEC),
    _half_size_deg("DSS2"),
)  # fmt: skip

#: (programme, grid, lowest ring dec used, highest ring dec used), per survey.
_LAYOUT: dict[str, tuple[tuple[_Programme, _Grid, float, float], ...]] = {
    "DSS1": (
        (POSS_I_E, _POSS_I_GRID, -30.0, 90.0),
        (SERC_J, _SERC_GRID, -90.0, -35.0),
    ),
    "DSS2": (
        (POSS_II_F, _POSS_II_GRID, 0.0, 90.0),
        (SERC_R, _SERC_GRID, -90.0, -5.0),
        (POSS_II_J, _POSS_II_GRID, 0.0, 90.0),
        (SERC_EJ, _SERC_GRID, -90.0, -5.0),
        (POSS_II_N, _POSS_II_GRID, 0.0, 90.0),
        (SERC_I, _SERC_GRID, -90.0, -5.0),
    ),
}
#: Layout margin: a plate is laid out as if it were this much smaller on each side, degrees,
#: so that plate rotation and distortion can never open a gap between plates.
_LAYOUT_INSET_DEG = 0.1


@dataclass(frozen=True)
class _Field:
    number: int
    ring: int
    ra_deg: float
    dec_deg: float


def _ring_half_coverage_deg(ring_dec: float, zone: tuple[float, float], half_deg: float) -> float:
    """Smallest RA half-width a plate at ``ring_dec`` covers over its dec zone, degrees.

    A plate is the gnomonic square ``|xi|, |eta| <= tan(half_deg)`` about its centre; for
    41 decs across the zone we bisect for how far in RA the square reaches along the parallel
    and return the minimum (a lower bound, to 1e-9 rad). 180 means the plate surrounds the
    pole.
    """
    t = math.tan(math.radians(half_deg))
    dec = np.radians(np.linspace(zone[0], zone[1], 41))
    d0 = math.radians(ring_dec)

    def inside(dra: FloatArray) -> npt.NDArray[np.bool_]:
        den = np.sin(dec) * math.sin(d0) + np.cos(dec) * math.cos(d0) * np.cos(dra)
        safe = np.where(den > 0, den, 1.0)
        xi = np.cos(dec) * np.sin(dra) / safe
        eta = (np.sin(dec) * math.cos(d0) - np.cos(dec) * math.sin(d0) * np.cos(dra)) / safe
        return (den > 0) & (np.abs(xi) <= t) & (np.abs(eta) <= t)

    if not inside(np.zeros_like(dec)).all():
        raise AssertionError(f"ring {ring_dec}: zone {zone} is not covered along the meridian")
    if inside(np.full_like(dec, math.pi)).all():
        return 180.0
    lo, hi = np.zeros_like(dec), np.full_like(dec, math.pi)
    for _ in range(40):
        mid = (lo + hi) / 2
        ok = inside(mid)
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return float(np.degrees(lo.min()))


@cache
def _grid_fields(grid: _Grid) -> tuple[_Field, ...]:
    """The fields of a grid, numbered from 1 ring by ring, RA increasing within a ring.

    Each ring gets just enough plates that its dec zone is covered by plates
    ``_LAYOUT_INSET_DEG`` smaller than the digitized area.
    """
    fields: list[_Field] = []
    decs = grid.ring_decs
    spacing = abs(decs[1] - decs[0])
    half = grid.half_size_deg - _LAYOUT_INSET_DEG
    for k, dec in enumerate(decs):
        before = grid.zone_limits[0] if k == 0 else (dec + decs[k - 1]) / 2
        after = grid.zone_limits[1] if k == len(decs) - 1 else (dec + decs[k + 1]) / 2
        zone = (min(before, after), max(before, after))
        half_ra = _ring_half_coverage_deg(dec, zone, half)
        n = 1 if half_ra >= 180.0 else math.ceil(360.0 / (2.0 * half_ra))
        step = 360.0 / n
        # Alternate rings are staggered by half a step (rings at even multiples of the
        # spacing, counted from the equator).
        staggered = n > 1 and round(abs(dec) / spacing) % 2 == 0
        offset = step / 2 if staggered else 0.0
        for j in range(n):
            ra = (offset + j * step) % 360.0
            fields.append(_Field(len(fields) + 1, k, ra, _off_pole(dec)))
    return tuple(fields)


def _off_pole(dec: float) -> float:
    """A polar plate is centred 3.6 arcsec off the pole.

    At exactly dec +-90 the FITS default LONPOLE (0 there, 180 elsewhere) turns WCSLIB's
    reading of the DSS solution by 180 deg with respect to the DSS convention.
    """
    return math.copysign(90.0 - 1e-3, dec) if abs(dec) == 90.0 else 0.0 + dec


def _digest(*parts: object) -> bytes:
    """A stable hash of ``parts`` (Python's ``hash`` is salted per process)."""
    return hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).digest()


def _rng(*parts: object) -> np.random.Generator:
    """A generator seeded by a stable hash of ``parts``."""
    return np.random.default_rng(list(np.frombuffer(_digest(*parts), dtype=np.uint32)))


def _observation(prog: _Programme, fld: _Field) -> tuple[float, str, float]:
    """Epoch (decimal year), UT date (ISO) and exposure (min) of the plate of ``fld``.

    The night is chosen near the field's opposition (the field transits around local
    midnight) within the programme years, the UT within +-1.5 h of transit at the site.
    """
    rng = _rng("observation", prog.name, fld.number)
    site = _SITES[prog.site]
    first, last = prog.years
    opposition_doy = 80.0 + ((fld.ra_deg + 180.0) % 360.0) / 360.0 * 365.25
    for _ in range(100):
        year = int(rng.uniform(first, last))
        doy = int((opposition_doy + rng.normal(0.0, 25.0)) % 365.0)
        night = dt.date(year, 1, 1) + dt.timedelta(days=doy)
        hour_angle_deg = rng.uniform(-22.5, 22.5)
        ut_h = _ut_of_sidereal(night, fld.ra_deg + hour_angle_deg, site.longitude_east_deg)
        days = 366 if _is_leap(year) else 365
        epoch = year + (night.timetuple().tm_yday - 1 + ut_h / 24.0) / days
        if first <= epoch <= last:
            break
    else:
        raise AssertionError(f"{prog.name} field {fld.number}: no night within the survey years")
    exposure = prog.exposures_min[int(rng.integers(len(prog.exposures_min)))]
    return round(epoch, 8), night.isoformat(), exposure


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _ut_of_sidereal(night: dt.date, lst_deg: float, longitude_east_deg: float) -> float:
    """UT hours on ``night`` at which the local sidereal time is ``lst_deg``."""
    days_from_j2000 = (night - dt.date(2000, 1, 1)).days - 0.5
    gmst0 = 100.4606184 + 0.9856473662862 * days_from_j2000
    return ((lst_deg - longitude_east_deg - gmst0) % 360.0) / 360.98564736629 * 24.0


@dataclass
class _Draft:
    prog: _Programme
    fld: _Field
    epoch: float
    date_obs: str
    exposure_min: float
    number: int = 0
    serial: int = 0

    @property
    def survey(self) -> str:
        return self.prog.survey

    @property
    def region(self) -> str:
        return f"{self.prog.region_prefix}{self.fld.number:03d}"


def _drafts() -> list[_Draft]:
    drafts: list[_Draft] = []
    for survey in SURVEYS:
        for prog, grid, low, high in _LAYOUT[survey]:
            for fld in _grid_fields(grid):
                if low <= fld.dec_deg <= high:
                    drafts.append(_Draft(prog, fld, *_observation(prog, fld)))
    return drafts


def _number_plates(drafts: Sequence[_Draft]) -> None:
    """Observatory plate numbers: increasing with date per telescope, like real ones."""
    for site_key, site in _SITES.items():
        series = sorted(
            (d for d in drafts if d.prog.site == site_key), key=lambda d: (d.epoch, d.region)
        )
        last = 0
        for d in series:
            d.number = max(last + 1, 1 + int((d.epoch - site.series_start) * site.plates_per_year))
            last = d.number


def _base36(value: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    for _ in range(4):
        value, rem = divmod(value, 36)
        out = digits[rem] + out
    return out


def _serial_plates(drafts: Sequence[_Draft]) -> None:
    """GSSS plate serials: base-36 numbers in a pseudo-random 'digitization order'."""
    order = sorted(drafts, key=lambda d: _digest("scan-order", d.survey, d.prog.name, d.region))
    serial = 0
    for d in order:
        serial += 1 + _digest("gap", d.survey, d.prog.name, d.region)[0] % 4
        d.serial = serial


def _spec_of(d: _Draft) -> PlateSpec:
    survey = d.survey
    return PlateSpec(
        survey=survey,
        plate_id=_base36(d.serial),
        region=d.region,
        label=f"{d.prog.label_letter} {d.number}",
        band=d.prog.band,
        emulsion=d.prog.emulsion,
        filter=d.prog.filter,
        telescope=d.prog.telescope,
        epoch=d.epoch,
        date_obs=d.date_obs,
        exposure_min=d.exposure_min,
        ra_deg=d.fld.ra_deg,
        dec_deg=d.fld.dec_deg,
        naxis=PLATE_SIZE_PX[survey],
        pixel_um=PIXEL_SIZE_UM[survey],
    )


@lru_cache(maxsize=1)
def _catalogues() -> dict[str, tuple[PlateSpec, ...]]:
    drafts = _drafts()
    _number_plates(drafts)
    _serial_plates(drafts)
    specs = [_spec_of(d) for d in drafts]
    specs = _assign_ngc7793_plate(specs)
    return {s: tuple(p for p in specs if p.survey == s) for s in SURVEYS}


def _assign_ngc7793_plate(specs: list[PlateSpec]) -> list[PlateSpec]:
    """Give ``04IN`` to the SERC J plate that holds NGC 7793's 60' field with most margin.

    The plate that had the serial ``04IN`` (if any) gets that plate's serial instead.
    """
    ra, dec = _NGC7793_J2000
    candidates = [
        s
        for s in specs
        if s.survey == "DSS1"
        and s.band == "B"
        and _separation_deg(s.ra_deg, s.dec_deg, ra, dec) < 5
    ]
    margins = [_field_margin_px(s, ra, dec, _NGC7793_FIELD_ARCMIN) for s in candidates]
    best = candidates[int(np.argmax(margins))]
    if max(margins) < 60:
        raise AssertionError("no SERC J plate holds the NGC 7793 field with margin")
    out = []
    for s in specs:
        if s is best:
            s = replace(s, plate_id=NGC7793_PLATE_ID)
        elif s.plate_id == NGC7793_PLATE_ID:
            s = replace(s, plate_id=best.plate_id)
        out.append(s)
    return out


def survey_catalogue(survey: str) -> list[PlateSpec]:
    """The whole-sky synthetic plate catalogue of a survey.

    Parameters
    ----------
    survey
        ``"DSS1"`` or ``"DSS2"`` (case-insensitive).

    Returns
    -------
    list of PlateSpec
        DSS1: POSS-I E plates (band R) north of dec -32.5, SERC J plates (band B) south of it.
        DSS2: for each band R, B and I, POSS-II plates north of dec -2.5 and SERC plates
        south of it; each band covers the whole sky on its own. Ordered by programme, then
        field number. Every point of the sky lies inside the nominal area of at least one
        plate of each survey (and of each DSS2 band). Deterministic: the same list in every
        process and release, unless the layout rules above change.
    """
    key = survey.upper()
    if key not in SURVEYS:
        raise ValueError(f"unknown survey {survey!r}; expected DSS1 or DSS2")
    return list(_catalogues()[key])


def _separation_deg(ra1: Any, dec1: Any, ra2: Any, dec2: Any) -> Any:
    """Great-circle distance, degrees (vectorised; haversine, stable for small angles)."""
    r1, d1, r2, d2 = (np.radians(v) for v in (ra1, dec1, ra2, dec2))
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


# -- Plate solutions and headers -------------------------------------------------------------


def _programme_of(spec: PlateSpec) -> _Programme:
    for prog, _grid, _low, _high in _LAYOUT[spec.survey]:
        southern = prog.region_prefix == "S"
        if prog.band == spec.band and spec.region.startswith("S") == southern:
            return prog
    raise ValueError(f"plate {spec.plate_id}: no programme for {spec.survey} {spec.region}")


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


def _sexagesimal(value: float, *, hours: bool) -> tuple[str, int, int, float]:
    """Sign, units, minutes and seconds of an angle (hours for RA), carry-safe."""
    total = abs(value) / (15.0 if hours else 1.0) * 3600.0
    units, rest = divmod(total, 3600.0)
    minutes, seconds = divmod(rest, 60.0)
    return ("-" if value < 0 else "+"), int(units), int(minutes), float(seconds)


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
    "SYNTHETIC PLATE made by dssportal (extraction.core.synthetic): not a scan of a real "
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
    ra0 = math.radians(15.0 * (header["PLTRAH"] + header["PLTRAM"] / 60 + header["PLTRAS"] / 3600))
    sign = -1.0 if str(header["PLTDECSN"]).strip() == "-" else 1.0
    dec0 = math.radians(
        sign * (header["PLTDECD"] + header["PLTDECM"] / 60 + header["PLTDECS"] / 3600)
    )
    xi_r, eta_r = xi / _ARCSEC_PER_RAD, eta / _ARCSEC_PER_RAD
    den = math.cos(dec0) - eta_r * math.sin(dec0)
    ra = ra0 + np.arctan2(xi_r, den)
    dec = np.arctan2(math.sin(dec0) + eta_r * math.cos(dec0), np.hypot(xi_r, den))
    return np.degrees(ra) % 360.0, np.degrees(dec)


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


def _field_margin_px(spec: PlateSpec, ra: float, dec: float, size_arcmin: float) -> float:
    """Smallest distance (pixels) from a square field to the plate edge; < 0 if it sticks out."""
    fra, fdec = _square_outline(ra, dec, size_arcmin)
    x, y = plate_sky_to_pixel(spec, fra, fdec)
    lo, hi = -0.5, spec.naxis - 0.5
    return float(min((x - lo).min(), (hi - x).min(), (y - lo).min(), (hi - y).min()))


def _square_outline(
    ra: float, dec: float, size_arcmin: float, per_side: int = 8
) -> tuple[FloatArray, FloatArray]:
    """Points on the outline of a square field (sides along N and E at its centre)."""
    t = np.linspace(-1.0, 1.0, per_side + 1)
    ones = np.ones_like(t)
    half = math.tan(math.radians(size_arcmin / 120.0))
    xi = half * np.concatenate([t, ones, -t, -ones])
    eta = half * np.concatenate([-ones, t, ones, -t])
    return _gnomonic_inverse(ra, dec, xi, eta)


def _gnomonic_inverse(
    ra0: float, dec0: float, xi: FloatArray, eta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Standard coordinates (radians) about (ra0, dec0) to RA/Dec degrees."""
    d0 = math.radians(dec0)
    den = math.cos(d0) - eta * math.sin(d0)
    ra = math.radians(ra0) + np.arctan2(xi, den)
    dec = np.arctan2(math.sin(d0) + eta * math.cos(d0), np.hypot(xi, den))
    return np.degrees(ra) % 360.0, np.degrees(dec)


# -- The sky model: stars ---------------------------------------------------------------------

#: Cumulative star counts N(< R = 21) per square degree at the galactic poles.
STAR_COUNTS_R21_PER_DEG2 = 1500.0
#: Slope of the cumulative counts, d log10 N / dm.
STAR_COUNT_SLOPE = 0.3
#: Magnitude range (R) of the stars in the model.
STAR_MAG_RANGE = (3.0, 23.0)
#: Sky cells for star generation: 1-degree dec bands, each cut into ~1-degree RA cells.
_CELL_DEC_DEG = 1.0
_N_DEC_BANDS = 180
#: Galactic-plane enhancement: density factor 1 + A exp(-|b| / H).
_PLANE_BOOST = 9.0
_PLANE_SCALE_DEG = 10.0


@dataclass(frozen=True)
class Stars:
    """Stars of the sky model: positions (J2000 deg) and magnitudes in the three bands.

    The same star has the same position and magnitudes on every plate; ``mag_r`` is the
    POSS-I E / IIIaF R magnitude, ``mag_b`` the IIIaJ B_J magnitude, ``mag_i`` IV-N I.
    """

    ra_deg: FloatArray
    dec_deg: FloatArray
    mag_r: FloatArray
    mag_b: FloatArray
    mag_i: FloatArray

    def __len__(self) -> int:
        return int(self.ra_deg.size)

    def mag(self, band: str) -> FloatArray:
        """Magnitudes in ``band`` (``"R"``, ``"B"`` or ``"I"``)."""
        return {"R": self.mag_r, "B": self.mag_b, "I": self.mag_i}[band]

    def select(self, mask: npt.NDArray[np.bool_] | IntArray) -> Stars:
        """The stars picked by a boolean mask or an index array."""
        return Stars(*(a[mask] for a in self._arrays()))

    def _arrays(self) -> tuple[FloatArray, ...]:
        return (self.ra_deg, self.dec_deg, self.mag_r, self.mag_b, self.mag_i)

    @classmethod
    def concatenate(cls, parts: Sequence[Stars]) -> Stars:
        """All stars of ``parts``, in order."""
        if not parts:
            empty = np.empty(0)
            return cls(empty, empty, empty, empty, empty)
        return cls(*(np.concatenate(c) for c in zip(*(p._arrays() for p in parts), strict=True)))


@lru_cache(maxsize=1)
def _galactic_matrix() -> FloatArray:
    """Rotation from equatorial (J2000) to galactic unit vectors, from astropy."""
    c = SkyCoord(ra=[0.0, 90.0, 0.0], dec=[0.0, 0.0, 90.0], unit="deg", frame="fk5")
    return np.asarray(c.galactic.cartesian.xyz.value, dtype=float)


def galactic_latitude_deg(ra_deg: npt.ArrayLike, dec_deg: npt.ArrayLike) -> FloatArray:
    """Galactic latitude of J2000 positions, degrees (vectorised, astropy's rotation)."""
    ra, dec = np.radians(np.asarray(ra_deg, float)), np.radians(np.asarray(dec_deg, float))
    z = _galactic_matrix()[2]
    sin_b = z[0] * np.cos(dec) * np.cos(ra) + z[1] * np.cos(dec) * np.sin(ra) + z[2] * np.sin(dec)
    return np.degrees(np.arcsin(np.clip(sin_b, -1.0, 1.0)))


def star_density_per_deg2(mag_limit: float, b_deg: npt.ArrayLike) -> FloatArray:
    """Stars per square degree brighter than ``mag_limit`` (R) at galactic latitude ``b_deg``."""
    plane = 1.0 + _PLANE_BOOST * np.exp(-np.abs(np.asarray(b_deg, float)) / _PLANE_SCALE_DEG)
    return STAR_COUNTS_R21_PER_DEG2 * 10.0 ** (STAR_COUNT_SLOPE * (mag_limit - 21.0)) * plane


@lru_cache(maxsize=1)
def _cells_per_band() -> tuple[int, ...]:
    mids = np.radians(-90.0 + _CELL_DEC_DEG * (np.arange(_N_DEC_BANDS) + 0.5))
    return tuple(max(1, math.ceil(360.0 * math.cos(m))) for m in mids)


def _cells_in_cap(ra0: float, dec0: float, radius: float) -> list[tuple[int, int]]:
    """The (dec band, RA cell) indices of the cells that may hold points within ``radius``."""
    counts = _cells_per_band()
    k_lo = max(0, math.floor((dec0 - radius + 90.0) / _CELL_DEC_DEG))
    k_hi = min(_N_DEC_BANDS - 1, math.floor((dec0 + radius + 90.0) / _CELL_DEC_DEG))
    polar = abs(dec0) + radius >= 89.999
    half_ra = 180.0
    if not polar:
        ratio = math.sin(math.radians(radius)) / math.cos(math.radians(dec0))
        half_ra = math.degrees(math.asin(min(1.0, ratio))) + 1e-6
    cells: list[tuple[int, int]] = []
    for k in range(k_lo, k_hi + 1):
        n = counts[k]
        width = 360.0 / n
        if half_ra >= 180.0:
            js: Sequence[int] = range(n)
        else:
            first = math.floor((ra0 - half_ra) / width)
            last = math.floor((ra0 + half_ra) / width)
            js = sorted({j % n for j in range(first, last + 1)})
        cells.extend((k, j) for j in js)
    return cells


def _plane_factor_bound(k: int, j: int) -> float:
    """An upper bound of the galactic-plane factor over a cell (from its corners)."""
    n = _cells_per_band()[k]
    dec = np.array([-90.0 + k, -89.0 + k]) * _CELL_DEC_DEG
    ra = np.array([j, j + 1]) * 360.0 / n
    corners_b = galactic_latitude_deg(
        np.array([ra[0], ra[1], ra[0], ra[1], ra.mean()]),
        np.array([dec[0], dec[0], dec[1], dec[1], dec.mean()]),
    )
    # A cell is at most ~1.5 deg across: no point of it is nearer the plane than this.
    nearest = 0.0 if np.ptp(np.sign(corners_b)) else max(0.0, np.abs(corners_b).min() - 1.5)
    return 1.0 + _PLANE_BOOST * math.exp(-nearest / _PLANE_SCALE_DEG)


@lru_cache(maxsize=64)
def _cell_stars(seed: int, k: int, j: int) -> Stars:
    """The stars of one sky cell: a function of (seed, cell) only.

    Positions are uniform on the sphere within the cell; R magnitudes follow
    ``log10 N(<m) = 0.3 m + const`` over ``STAR_MAG_RANGE``; the galactic-plane density
    factor is applied by thinning; colours B-R ~ N(1.1, 0.35), R-I ~ 0.45 (B-R) + N(0, 0.08).
    """
    rng = np.random.default_rng([seed, k, j])
    n_ra = _cells_per_band()[k]
    width = 360.0 / n_ra
    dec_lo = -90.0 + k * _CELL_DEC_DEG
    sin_lo, sin_hi = math.sin(math.radians(dec_lo)), math.sin(math.radians(dec_lo + _CELL_DEC_DEG))
    area_deg2 = width * (sin_hi - sin_lo) * 180.0 / math.pi
    bound = _plane_factor_bound(k, j)
    faint, bright = STAR_MAG_RANGE[1], STAR_MAG_RANGE[0]
    mean = area_deg2 * STAR_COUNTS_R21_PER_DEG2 * 10 ** (STAR_COUNT_SLOPE * (faint - 21.0)) * bound
    count = int(rng.poisson(mean))
    u = rng.random((4, count))
    z = rng.standard_normal((2, count))
    ra = j * width + width * u[0]
    dec = np.degrees(np.arcsin(sin_lo + (sin_hi - sin_lo) * u[1]))
    k_slope = STAR_COUNT_SLOPE * math.log(10.0)
    span = math.expm1(k_slope * (faint - bright))
    mag_r = bright + np.log1p(u[2] * span) / k_slope
    plane = 1.0 + _PLANE_BOOST * np.exp(-np.abs(galactic_latitude_deg(ra, dec)) / _PLANE_SCALE_DEG)
    keep = u[3] * bound < plane
    b_r = np.clip(1.1 + 0.35 * z[0], -0.3, 2.8)
    r_i = 0.45 * b_r + 0.08 * z[1]
    return Stars(ra, dec, mag_r, mag_r + b_r, mag_r - r_i).select(keep)


def sky_stars(ra_deg: float, dec_deg: float, radius_deg: float, *, seed: int = 0) -> Stars:
    """The stars of the sky model within ``radius_deg`` of a position.

    Parameters
    ----------
    ra_deg, dec_deg
        Centre, J2000 degrees.
    radius_deg
        Radius, degrees.
    seed
        Non-negative integer; the same seed gives the same stars everywhere.
    """
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    cells = _cells_in_cap(ra_deg, dec_deg, radius_deg)
    stars = Stars.concatenate([_cell_stars(seed, k, j) for k, j in cells])
    near = _separation_deg(stars.ra_deg, stars.dec_deg, ra_deg, dec_deg) <= radius_deg
    return stars.select(near)


# -- The sky model: galaxies and nebulae from OpenNGC ----------------------------------------

_GALAXY_TYPES = ("G",)
_NEBULA_TYPES = ("HII", "EmN", "Neb", "Cl+N", "SNR", "RfN", "PN")
_CLUSTER_TYPES = ("GCl",)


@dataclass(frozen=True)
class _Components:
    """Elliptical Sersic components of extended objects (one row per component).

    ``re_arcsec`` is the half-light radius along the major axis, ``q`` the axis ratio,
    ``pa_deg`` the position angle of the major axis (north through east), ``mags`` the
    component magnitudes (R, B, I), ``texture`` the seed of a nebular texture or of the spiral
    pattern (0: smooth), ``arms`` the amplitude of two spiral arms of pitch ``pitch_deg``
    (0: none; then a nonzero ``texture`` is nebular).
    """

    name: tuple[str, ...]
    ra_deg: FloatArray
    dec_deg: FloatArray
    sersic_n: FloatArray
    re_arcsec: FloatArray
    q: FloatArray
    pa_deg: FloatArray
    mags: FloatArray
    texture: IntArray
    arms: FloatArray
    pitch_deg: FloatArray

    def select(self, idx: IntArray) -> _Components:
        return _Components(
            tuple(self.name[i] for i in idx),
            *(getattr(self, f)[idx] for f in _COMPONENT_ARRAYS),
        )


_COMPONENT_ARRAYS = (
    "ra_deg", "dec_deg", "sersic_n", "re_arcsec", "q", "pa_deg", "mags", "texture", "arms",
    "pitch_deg",
)  # fmt: skip


def _ongc_rows() -> list[tuple[Any, ...]]:
    kinds = _GALAXY_TYPES + _NEBULA_TYPES + _CLUSTER_TYPES
    query = (
        "SELECT name, type, ra, dec, majax, minax, pa, bmag, vmag, sbrightn, hubble "
        f"FROM objects WHERE type IN ({','.join('?' * len(kinds))}) AND majax > 0 "
        "AND ra IS NOT NULL ORDER BY name"
    )
    with sqlite3.connect(f"file:{pyongc.DBPATH}?mode=ro", uri=True) as db:
        return list(db.execute(query, kinds))


def _bulge_fraction(hubble: str) -> float:
    for prefix, fraction in (("S0", 0.5), ("Sa", 0.35), ("Sb", 0.2), ("Sc", 0.1), ("S", 0.1)):
        if hubble.startswith(prefix):
            return fraction
    return 0.0 if hubble.startswith("I") else 0.2


#: Spiral arms by Hubble type: (amplitude, pitch angle deg); checked in this order.
_SPIRAL_ARMS = (("S0", (0.0, 0.0)), ("Sa", (0.3, 10.0)), ("Sb", (0.5, 15.0)), ("S", (0.65, 22.0)))
#: Galaxies smaller than this (major axis, arcmin) are drawn without arms.
_ARMS_MIN_ARCMIN = 3.0


def _disc_structure(name: str, hubble: str, major_arcmin: float) -> tuple[int, float, float]:
    """(seed, arm amplitude, pitch) of a galaxy disc: two arms for spirals, clumps for
    irregulars, nothing for small galaxies."""
    if major_arcmin < _ARMS_MIN_ARCMIN:
        return 0, 0.0, 0.0
    seed = int.from_bytes(_digest("texture", name)[:4], "little") | 1
    for prefix, (amp, pitch) in _SPIRAL_ARMS:
        if hubble.startswith(prefix):
            return (seed, amp, pitch) if amp else (0, 0.0, 0.0)
    return (seed, 0.0, 0.0) if hubble.startswith("I") else (0, 0.0, 0.0)


def _object_components(row: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Sersic components of one OpenNGC object.

    Each is ``(n, r_e / R25, flux fraction, (texture seed, arm amplitude, pitch), colours)``
    with ``R25`` half the catalogue major axis and colours the (R, B, I) offsets from B.
    Galaxies: de Vaucouleurs ellipticals (r_e = 0.38 R25) or exponential discs (r_e =
    0.545 R25, a Freeman disc reaching 25 mag/arcsec^2 at R25) with an r^1/4 bulge and
    spiral arms by Hubble type; nebulae: a Gaussian core and a textured exponential
    envelope; globular clusters: n = 2.5.
    """
    name, kind, _ra, _dec, maj, _minax, _pa, _bmag, _vmag, _sb, hubble = row
    hubble = hubble or ""
    smooth = (0, 0.0, 0.0)
    if kind in _GALAXY_TYPES:
        colours = (-1.5, 0.0, -2.1) if hubble[:1] in ("E", "S0") else (-1.2, 0.0, -1.8)
        if hubble.startswith(("E", "cD")):
            return [(4.0, 0.38, 1.0, smooth, colours)]
        bulge = _bulge_fraction(hubble)
        parts = [(1.0, 0.545, 1.0 - bulge, _disc_structure(name, hubble, maj), colours)]
        return [*parts, (4.0, 0.08, bulge, smooth, colours)] if bulge else parts
    if kind in _CLUSTER_TYPES:
        return [(2.5, 0.25, 1.0, smooth, (-1.0, 0.0, -1.5))]
    colours = (-0.7, 0.2, 0.3) if kind == "RfN" else (-1.4, -0.2, -0.6)  # B - R = +-0.7
    texture = (int.from_bytes(_digest("texture", name)[:4], "little") | 1, 0.0, 0.0)
    if kind == "PN":
        return [(0.5, 0.5, 1.0, smooth, colours)]
    return [(0.5, 0.12, 0.4, smooth, colours), (1.0, 0.45, 0.6, texture, colours)]


def _object_mag_b(row: tuple[Any, ...]) -> float | None:
    """B magnitude of an object: catalogue B, else V + 0.8, else from surface brightness."""
    _name, kind, _ra, _dec, maj, minax, _pa, bmag, vmag, sb, _hubble = row
    if bmag is not None:
        return float(bmag)
    if vmag is not None:
        return float(vmag) + 0.8
    area = math.pi / 4 * maj * (minax or maj) * 3600.0  # arcsec^2
    mean_sb = sb if sb is not None else (22.0 if kind in _NEBULA_TYPES else None)
    return None if mean_sb is None else float(mean_sb) - 2.5 * math.log10(area)


def _nebula_mag_b(row: tuple[Any, ...], mag_b: float) -> float:
    """Nebulae are no brighter than 20 B mag/arcsec^2 on average: the catalogue magnitude of
    a cluster + nebula (NGC 1980 with iota Ori, V = 2.5) is mostly its stars."""
    maj, minax = row[4], row[5]
    area = math.pi / 4 * maj * (minax or maj) * 3600.0
    return max(mag_b, 20.0 - 2.5 * math.log10(area))


@lru_cache(maxsize=1)
def _ongc_components() -> _Components:
    """All drawable OpenNGC objects (galaxies, nebulae, globular clusters) as components."""
    cols: dict[str, list[Any]] = {f: [] for f in ("name", *_COMPONENT_ARRAYS)}
    for row in _ongc_rows():
        name, kind, ra, dec, maj, minax, pa, *_ = row
        mag_b = _object_mag_b(row)
        if mag_b is None:
            continue
        if kind in _NEBULA_TYPES:
            mag_b = _nebula_mag_b(row, mag_b)
        r25 = maj * 30.0  # arcsec
        q = min(1.0, max(0.08, (minax or maj) / maj))
        for n, re_frac, fraction, structure, (d_r, d_b, d_i) in _object_components(row):
            if fraction <= 0:
                continue
            mag = mag_b - 2.5 * math.log10(fraction)
            cols["name"].append(name)
            cols["ra_deg"].append(math.degrees(ra))
            cols["dec_deg"].append(math.degrees(dec))
            cols["sersic_n"].append(n)
            cols["re_arcsec"].append(re_frac * r25)
            cols["q"].append(max(q, 0.6) if (n == 4.0 and re_frac < 0.1) else q)
            cols["pa_deg"].append(float(pa or 0.0))
            cols["mags"].append((mag + d_r, mag + d_b, mag + d_i))
            cols["texture"].append(structure[0])
            cols["arms"].append(structure[1])
            cols["pitch_deg"].append(structure[2])
    return _Components(
        tuple(cols["name"]),
        *(np.asarray(cols[f], dtype=np.int64 if f == "texture" else float)
          for f in _COMPONENT_ARRAYS),
    )  # fmt: skip


def _sersic_area(n: float | FloatArray, q: float | FloatArray, b_n: float | FloatArray) -> Any:
    """Total flux of a Sersic profile over its intensity at r_e, in units of r_e^2."""
    gamma = np.vectorize(math.gamma)(2 * np.asarray(n, float))
    return 2 * np.pi * n * q * np.exp(b_n) * gamma / b_n ** (2 * n)


def _sersic_extent(i_e: Any, n: Any, b_n: Any) -> Any:
    """Radius (units of r_e) where a profile of intensity ``i_e`` at r_e falls to the drawing
    threshold; at least 1, at most 60."""
    ratio = np.maximum(np.asarray(i_e, float) / _DRAW_THRESHOLD, 1.0)
    return np.clip((1 + np.log(ratio) / b_n) ** n, 1.0, 60.0)


def _components_near(
    ra: float, dec: float, radius: float, phot: _Photometry, band: str, scale_arcsec: float
) -> tuple[_Components, FloatArray]:
    """Components whose drawn extent reaches within ``radius`` deg of (ra, dec), and that
    extent (arcsec), for a band and a nominal pixel scale."""
    comps = _ongc_components()
    n, q, re = comps.sersic_n, comps.q, comps.re_arcsec
    b_n = _sersic_b(n)
    flux = _flux(phot, comps.mags[:, BANDS.index(band)])
    i_e = flux / (_sersic_area(n, q, b_n) * (re / scale_arcsec) ** 2)
    extent = _sersic_extent(i_e, n, b_n) * re
    d = _separation_deg(comps.ra_deg, comps.dec_deg, ra, dec)
    near = np.flatnonzero(d <= radius + extent / 3600.0)
    return comps.select(near), extent[near]


# -- Rendering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Photometry:
    """Photographic response of a survey band.

    ``limit_mag``: plate limit (a star of this magnitude peaks at ~12% above the sky);
    ``psf_sigma_px``: Gaussian seeing core of faint stars; ``grain``: relative photon/grain
    noise of the sky per pixel.
    """

    limit_mag: float
    psf_sigma_px: float
    grain: float


_PHOTOMETRY: dict[tuple[str, str], _Photometry] = {
    ("DSS1", "R"): _Photometry(20.5, 0.9, 0.030),
    ("DSS1", "B"): _Photometry(21.5, 0.9, 0.030),
    ("DSS2", "R"): _Photometry(21.0, 1.2, 0.035),
    ("DSS2", "B"): _Photometry(22.0, 1.2, 0.035),
    ("DSS2", "I"): _Photometry(19.5, 1.3, 0.040),
}
_LIMIT_PEAK = 0.12  # peak of a plate-limit star, in units of the sky
_HALO_FRACTION = 0.06  # flux in the Moffat halo (emulsion scattering)
_HALO_BETA = 2.0
_HALO_ALPHA_SIGMAS = 3.0
_SPIKE_FRACTION = 2e-4  # flux in the diffraction spikes of the plate-holder vanes
_DRAW_THRESHOLD = 0.004  # stamps and profiles stop where they fall below this (sky units)
_STAMP_RADII = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 160)
#: Characteristic curve: value = fog + span / (1 + (E / E_mid) ** -gamma), sky E = 1.
_FOG, _SPAN, _GAMMA, _E_MID = 2600.0, 19000.0, 1.2, 3.17
_DENSITY_NOISE = 25.0  # scanner/density noise, data units
_VIGNETTING = 0.12  # relative sky loss at the plate corners
_NOISE_BLOCK = 256  # noise is generated per 256x256 block of the full plate
_STRIP_ROWS = 256  # rows per rendering strip (a multiple of _NOISE_BLOCK)
_STAMP_CHUNK = 1_000_000  # stamp pixels evaluated at once


def _flux_zero(phot: _Photometry) -> float:
    """Total flux (sky-pixel units) of a star at the plate limit."""
    sigma = phot.psf_sigma_px
    return _LIMIT_PEAK * 2.0 * math.pi * sigma * sigma / (1.0 - _HALO_FRACTION)


def _flux(phot: _Photometry, mag: FloatArray) -> FloatArray:
    """Total flux, in units of the sky level per pixel, of sources of magnitude ``mag``."""
    return _flux_zero(phot) * 10.0 ** (-0.4 * (mag - phot.limit_mag))


@dataclass(frozen=True)
class _Scan:
    """The pixel frame of a (partial) scan: full-plate origin, size, and plate size."""

    x0: int
    y0: int
    nx: int
    ny: int
    naxis: int

    @classmethod
    def of(cls, spec: PlateSpec, header: Mapping[str, Any]) -> _Scan:
        return cls(
            int(header["CNPIX1"]),
            int(header["CNPIX2"]),
            int(header["NAXIS1"]),
            int(header["NAXIS2"]),
            spec.naxis,
        )

    def strips(self) -> Iterator[tuple[int, int]]:
        """Row ranges ``[r0, r1)`` of the scan, cut at full-plate multiples of _STRIP_ROWS."""
        r0 = 0
        while r0 < self.ny:
            full = self.y0 + r0
            r1 = min(self.ny, (full // _STRIP_ROWS + 1) * _STRIP_ROWS - self.y0)
            yield r0, r1
            r0 = r1


@dataclass(frozen=True)
class _StarBin:
    """Stars sharing a stamp radius, sorted by row: pixel position, flux, core width."""

    radius: int
    x: FloatArray
    y: FloatArray
    flux: FloatArray
    sigma: FloatArray


def _scan_cap(header: Mapping[str, Any], scan: _Scan) -> tuple[float, float, float]:
    """A sky circle (ra, dec, radius deg) around the scan area."""
    xs = np.array([0.0, 0.5, 1.0]) * (scan.nx - 1)
    ys = np.array([0.0, 0.5, 1.0]) * (scan.ny - 1)
    gx, gy = np.meshgrid(xs, ys)
    ra, dec = dss_pixel_to_world(header, gx.ravel(), gy.ravel())
    ra0, dec0 = float(ra[4]), float(dec[4])
    radius = float(_separation_deg(ra, dec, ra0, dec0).max())
    return ra0, dec0, radius


def _project_stars(
    spec: PlateSpec,
    wcs: WCS,
    scan: _Scan,
    cap: tuple[float, float, float],
    phot: _Photometry,
    seed: int,
) -> list[_StarBin]:
    """Stars that touch the scan, projected through the plate WCS and binned by stamp size."""
    pad_deg = _STAMP_RADII[-1] * spec.pixel_scale_arcsec / 3600.0
    stars = sky_stars(cap[0], cap[1], cap[2] + pad_deg, seed=seed)
    mag = stars.mag(spec.band)
    stars, mag = stars.select(mag < phot.limit_mag + 1.0), mag[mag < phot.limit_mag + 1.0]
    if not len(stars):
        return []
    x, y = wcs.all_world2pix(stars.ra_deg, stars.dec_deg, 0)
    flux = _flux(phot, mag)
    sigma = phot.psf_sigma_px * (1.0 + 0.05 * np.clip(phot.limit_mag - 1.0 - mag, 0.0, None))
    radius = _stamp_radius(flux, sigma, phot)
    near = (
        (x >= -radius) & (x <= scan.nx - 1 + radius) & (y >= -radius) & (y <= scan.ny - 1 + radius)
    )
    bins = []
    for r in np.unique(radius[near]):
        pick = np.flatnonzero(near & (radius == r))
        pick = pick[np.argsort(y[pick], kind="stable")]
        bins.append(_StarBin(int(r), x[pick], y[pick], flux[pick], sigma[pick]))
    return bins


def _halo_alpha(phot: _Photometry) -> float:
    return _HALO_ALPHA_SIGMAS * phot.psf_sigma_px


def _stamp_radius(flux: FloatArray, sigma: FloatArray, phot: _Photometry) -> IntArray:
    """Stamp radius (pixels) beyond which a star adds less than _DRAW_THRESHOLD of the sky."""
    core = (1.0 - _HALO_FRACTION) * flux / (2.0 * np.pi * sigma**2 * _DRAW_THRESHOLD)
    r_core = sigma * np.sqrt(2.0 * np.log(np.maximum(core, 1.0)))
    alpha = _halo_alpha(phot)
    halo_peak = _HALO_FRACTION * flux * (_HALO_BETA - 1.0) / (np.pi * alpha**2)
    r_halo = alpha * np.sqrt(np.maximum((halo_peak / _DRAW_THRESHOLD) ** (1 / _HALO_BETA) - 1, 0))
    needed = np.maximum(np.maximum(r_core, r_halo), 2.0)
    radii = np.asarray(_STAMP_RADII)
    return radii[np.minimum(np.searchsorted(radii, needed), radii.size - 1)].astype(np.int64)


def _star_profile(
    dx: Float32Array, dy: Float32Array, flux: FloatArray, sigma: FloatArray, alpha: float, r: int
) -> Float32Array:
    """Star images at offsets (dx, dy) pixels: Gaussian core, Moffat halo, vane spikes."""
    f = flux[:, None].astype(np.float32)
    s2 = (2.0 * sigma[:, None] ** 2).astype(np.float32)
    r2 = dx * dx + dy * dy
    value = ((1.0 - _HALO_FRACTION) / np.pi) * np.exp(-r2 / s2) / s2
    value += (_HALO_FRACTION * (_HALO_BETA - 1.0) / (np.pi * alpha**2)) * (
        1.0 + r2 / np.float32(alpha**2)
    ) ** np.float32(-_HALO_BETA)
    if r >= 24:
        length = np.float32(r / 4.0)
        norm = _SPIKE_FRACTION / (4.0 * float(length) * math.sqrt(2.0 * math.pi) * 0.7)
        spikes = np.exp(-np.abs(dx) / length - dy * dy / np.float32(0.98))
        spikes += np.exp(-np.abs(dy) / length - dx * dx / np.float32(0.98))
        value += np.float32(norm) * spikes
    return (f * value).astype(np.float32, copy=False)


def _add_stars(image: Float32Array, r0: int, bins: Sequence[_StarBin], alpha: float) -> None:
    """Add the stars of all bins to the strip ``image`` (scan rows r0 .. r0 + h)."""
    h, nx = image.shape
    flat = image.reshape(-1)
    for b in bins:
        iy_all = np.rint(b.y).astype(np.int64)
        first = np.searchsorted(iy_all, r0 - b.radius, side="left")
        last = np.searchsorted(iy_all, r0 + h - 1 + b.radius, side="right")
        if first >= last:
            continue
        off = np.arange(-b.radius, b.radius + 1)
        oy, ox = (a.ravel() for a in np.meshgrid(off, off, indexing="ij"))
        per_chunk = max(1, _STAMP_CHUNK // oy.size)
        for s in range(first, last, per_chunk):
            sl = slice(s, min(last, s + per_chunk))
            ix = np.rint(b.x[sl]).astype(np.int64)[:, None] + ox
            iy = iy_all[sl][:, None] + oy
            ok = (iy >= r0) & (iy < r0 + h) & (ix >= 0) & (ix < nx)
            dx = (ix - b.x[sl][:, None]).astype(np.float32)
            dy = (iy - b.y[sl][:, None]).astype(np.float32)
            value = _star_profile(dx, dy, b.flux[sl], b.sigma[sl], alpha, b.radius)
            np.add.at(flat, ((iy - r0) * nx + ix)[ok], value[ok])


@dataclass(frozen=True)
class _Blob:
    """One Sersic component in the scan's pixel frame.

    ``matrix`` maps pixel offsets from (xc, yc) to (major, minor / q) offsets in units of
    r_e; ``sky_matrix`` maps them to (east, north) offsets in units of r_e (for textures);
    ``i_e`` is the intensity at r_e (sky units per pixel); ``box`` the drawing bounds
    ``(x_lo, x_hi, y_lo, y_hi)``, half-open, in scan pixels.
    """

    xc: float
    yc: float
    matrix: FloatArray
    sky_matrix: FloatArray
    n: float
    b_n: float
    i_e: float
    soft: float
    box: tuple[int, int, int, int]
    texture: int
    arms: float
    pitch_deg: float


def _sersic_b(n: Any) -> Any:
    """b_n of the Sersic profile (Ciotti & Bertin 1999 expansion)."""
    return 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n * n)


def _project_blobs(
    spec: PlateSpec, wcs: WCS, scan: _Scan, cap: tuple[float, float, float], phot: _Photometry
) -> list[_Blob]:
    """OpenNGC components that touch the scan, with their local pixel geometry."""
    comps, extents = _components_near(*cap, phot, spec.band, spec.pixel_scale_arcsec)
    band = BANDS.index(spec.band)
    blobs = []
    for i in range(len(comps.name)):
        mag = comps.mags[i, band]
        if mag > phot.limit_mag + 3.0:
            continue
        blob = _blob(spec, wcs, scan, phot, comps, i, float(extents[i]))
        if blob is not None:
            blobs.append(blob)
    return blobs


def _local_sky_jacobian(wcs: WCS, ra: float, dec: float) -> tuple[float, float, FloatArray]:
    """Pixel position of (ra, dec) and the matrix from pixel offsets to (east, north) arcsec."""
    step = 1.0 / _ARCSEC_PER_RAD  # 1 arcsec
    pra, pdec = _gnomonic_inverse(ra, dec, np.array([0.0, step, 0.0]), np.array([0.0, 0.0, step]))
    px, py = wcs.all_world2pix(pra, pdec, 0)
    # Columns: pixel offsets of 1 arcsec east and 1 arcsec north.
    jac = np.array([[px[1] - px[0], px[2] - px[0]], [py[1] - py[0], py[2] - py[0]]])
    return float(px[0]), float(py[0]), np.linalg.inv(jac)


def _blob(
    spec: PlateSpec,
    wcs: WCS,
    scan: _Scan,
    phot: _Photometry,
    comps: _Components,
    i: int,
    extent_arcsec: float,
) -> _Blob | None:
    xc, yc, to_en = _local_sky_jacobian(wcs, float(comps.ra_deg[i]), float(comps.dec_deg[i]))
    pa = math.radians(comps.pa_deg[i])
    re, q, n = float(comps.re_arcsec[i]), float(comps.q[i]), float(comps.sersic_n[i])
    rot = np.array([[math.sin(pa), math.cos(pa)], [math.cos(pa), -math.sin(pa)]])
    matrix = np.diag([1.0 / re, 1.0 / (q * re)]) @ rot @ to_en
    b_n = float(_sersic_b(n))
    area_px = float(_sersic_area(n, q, b_n)) * re * re / abs(np.linalg.det(to_en))
    i_e = float(_flux(phot, comps.mags[i, BANDS.index(spec.band)])) / area_px
    extent = extent_arcsec / re
    inv = np.linalg.inv(matrix)  # (major, minor / q) in r_e units -> pixels
    half_x = extent * math.hypot(inv[0, 0], inv[0, 1]) + 1
    half_y = extent * math.hypot(inv[1, 0], inv[1, 1]) + 1
    box = (
        max(0, math.floor(xc - half_x)),
        min(scan.nx, math.ceil(xc + half_x) + 1),
        max(0, math.floor(yc - half_y)),
        min(scan.ny, math.ceil(yc + half_y) + 1),
    )
    if box[0] >= box[1] or box[2] >= box[3]:
        return None
    soft = (0.5 * spec.pixel_scale_arcsec / re) ** 2
    structure = int(comps.texture[i]), float(comps.arms[i]), float(comps.pitch_deg[i])
    return _Blob(xc, yc, matrix, to_en / re, n, b_n, i_e, soft, box, *structure)


def _add_blobs(image: Float32Array, r0: int, blobs: Sequence[_Blob], scan: _Scan) -> None:
    """Add the Sersic components to the strip ``image`` (scan rows r0 .. r0 + h)."""
    h = image.shape[0]
    for blob in blobs:
        x_lo, x_hi, y_lo, y_hi = blob.box
        a, b = max(r0, y_lo), min(r0 + h, y_hi)
        if a >= b:
            continue
        dx = (np.arange(x_lo, x_hi) - blob.xc).astype(np.float32)[None, :]
        dy = (np.arange(a, b) - blob.yc).astype(np.float32)[:, None]
        m = blob.matrix.astype(np.float32)
        u = m[0, 0] * dx + m[0, 1] * dy
        v = m[1, 0] * dx + m[1, 1] * dy
        s2 = u * u + v * v + np.float32(blob.soft)
        value = np.exp(np.float32(-blob.b_n) * (s2 ** np.float32(0.5 / blob.n) - 1))
        value *= np.float32(blob.i_e)
        cols, rows = np.arange(x_lo, x_hi), np.arange(a, b)
        if blob.arms:
            step = int(np.clip(0.05 / math.hypot(*blob.matrix[0]), 1, _TEXTURE_STEP))
            value *= _on_nodes(partial(_spiral_arms, blob), blob, scan, cols, rows, step)
        elif blob.texture:
            texture = partial(_nebular_log_texture, blob)
            value *= np.exp(_on_nodes(texture, blob, scan, cols, rows, _TEXTURE_STEP))
        image[a - r0 : b - r0, x_lo:x_hi] += value


def _spiral_arms(blob: _Blob, dx: FloatArray, dy: FloatArray) -> FloatArray:
    """Two logarithmic spiral arms in the disc plane, as a mean-preserving modulation.

    ``dx, dy`` are pixel offsets from the centre; the arms are drawn in the deprojected
    disc (offsets along the major axis and along the minor axis divided by q, in r_e). The
    arm profile is ``((1 + cos phase) / 2) ** 3`` (narrow arms), rescaled to mean zero and
    faded out towards the centre where the bulge dominates.
    """
    rng = np.random.default_rng(blob.texture)
    phase0 = rng.uniform(0, 2 * math.pi)
    winding = rng.choice([-1.0, 1.0]) * 2.0 / math.tan(math.radians(blob.pitch_deg))
    m = blob.matrix
    u, v = m[0, 0] * dx + m[0, 1] * dy, m[1, 0] * dx + m[1, 1] * dy
    r2 = u * u + v * v + 1e-6
    phase = 2.0 * np.arctan2(v, u) - winding * 0.5 * np.log(r2) + phase0
    arm = ((1.0 + np.cos(phase)) * 0.5) ** 3
    fade = 1.0 - np.exp(-r2 / 0.25)
    result: FloatArray = 1.0 + blob.arms * fade * (2.0 * arm - 0.625)
    return result


_TEXTURE_STEP = 8  # pixels between the nodes textures are computed on
_TEXTURE_WAVES = 20


def _nebular_log_texture(blob: _Blob, dx: FloatArray, dy: FloatArray) -> FloatArray:
    """Log of a nebular texture: a sum of random plane waves fixed on the sky (per object).

    Waves are fixed in (east, north) offsets from the object, with wavelengths of 0.1-1.5
    r_e and a red amplitude spectrum, so every plate shows the same mottling; waves finer
    than 4 node steps are left out.
    """
    rng = np.random.default_rng(blob.texture)
    log_field = np.zeros(np.broadcast_shapes(dx.shape, dy.shape))
    for _ in range(_TEXTURE_WAVES):
        angle, phase = rng.uniform(0, 2 * math.pi, 2)
        wavelength = math.exp(rng.uniform(math.log(0.1), math.log(1.5)))  # in r_e
        amp = 0.28 * (wavelength / 1.5) ** 0.7
        wave = 2 * math.pi / wavelength * np.array([math.cos(angle), math.sin(angle)])
        kx, ky = wave @ blob.sky_matrix  # radians per pixel
        if 2 * math.pi / max(math.hypot(kx, ky), 1e-12) < 4 * _TEXTURE_STEP:
            continue
        log_field += amp * np.cos(kx * dx + ky * dy + phase)
    return log_field


def _on_nodes(
    field: Callable[[FloatArray, FloatArray], FloatArray],
    blob: _Blob,
    scan: _Scan,
    cols: IntArray,
    rows: IntArray,
    step: int,
) -> Float32Array:
    """Evaluate a smooth ``field(dx, dy)`` on nodes every ``step`` full-plate pixels and
    interpolate it bilinearly onto scan pixels ``rows x cols`` (consecutive indices).

    Nodes sit on a lattice of the full plate, so strips and overlapping scans of a plate
    see the same values; the cost is that of the interpolation.
    """
    node_x = np.arange((scan.x0 + cols[0]) // step * step, scan.x0 + cols[-1] + 2 * step, step)
    node_y = np.arange((scan.y0 + rows[0]) // step * step, scan.y0 + rows[-1] + 2 * step, step)
    values = field(
        (node_x - scan.x0 - blob.xc)[None, :].astype(float),
        (node_y - scan.y0 - blob.yc)[:, None].astype(float),
    )
    tx = (scan.x0 + cols - node_x[0]) / step
    ty = (scan.y0 + rows - node_y[0]) / step
    ix, iy = tx.astype(np.int64), ty.astype(np.int64)
    wx = (tx - ix).astype(np.float32)[None, :]
    wy = (ty - iy).astype(np.float32)[:, None]
    nodes = values.astype(np.float32)
    along_x = nodes[:, ix] * (1 - wx) + nodes[:, ix + 1] * wx
    out: Float32Array = along_x[iy, :] * (1 - wy) + along_x[iy + 1, :] * wy
    return out


def _plate_key(spec: PlateSpec) -> list[int]:
    return [
        int(v) for v in np.frombuffer(_digest("plate", spec.survey, spec.band, spec.region), "<u4")
    ]


@lru_cache(maxsize=1)
def _normal_quantiles() -> Float32Array:
    """Standard-normal quantiles at (k + 0.5) / 65536: uint16 -> N(0, 1) (tails cut at 4.3)."""
    inv = statistics.NormalDist().inv_cdf
    return np.array([inv((k + 0.5) / 65536.0) for k in range(65536)], dtype=np.float32)


def _block_noise(seed: int, key: Sequence[int], by: int, bx: int) -> Float32Array:
    """Two planes of standard-normal noise for one full-plate noise block.

    Drawn as uint16 through a quantile table: several times faster than
    ``Generator.standard_normal`` and indistinguishable at this use.
    """
    rng = np.random.default_rng([seed, *key, by, bx])
    raw = np.frombuffer(rng.bytes(2 * 2 * _NOISE_BLOCK * _NOISE_BLOCK), dtype="<u2")
    return np.take(_normal_quantiles(), raw).reshape(2, _NOISE_BLOCK, _NOISE_BLOCK)


def _strip_noise(scan: _Scan, r0: int, r1: int, seed: int, key: Sequence[int]) -> Float32Array:
    """Two standard-normal planes for scan rows [r0, r1), fixed per full-plate pixel.

    Noise is drawn per _NOISE_BLOCK-square block of the full plate, seeded by (seed, plate,
    block), so that any two scans of the same plate agree wherever they overlap.
    """
    bs = _NOISE_BLOCK
    out = np.empty((2, r1 - r0, scan.nx), dtype=np.float32)
    y_lo, y_hi = scan.y0 + r0, scan.y0 + r1
    x_lo, x_hi = scan.x0, scan.x0 + scan.nx
    for by in range(y_lo // bs, (y_hi - 1) // bs + 1):
        ya, yb = max(y_lo, by * bs), min(y_hi, (by + 1) * bs)
        for bx in range(x_lo // bs, (x_hi - 1) // bs + 1):
            xa, xb = max(x_lo, bx * bs), min(x_hi, (bx + 1) * bs)
            block = _block_noise(seed, key, by, bx)
            out[:, ya - y_lo : yb - y_lo, xa - x_lo : xb - x_lo] = block[
                :, ya - by * bs : yb - by * bs, xa - bx * bs : xb - bx * bs
            ]
    return out


@dataclass(frozen=True)
class _PlateLook:
    """Per-plate photographic variations: sky gradient, sensitivity and grain."""

    gradient: tuple[float, float]
    e_mid: float
    grain: float


def _plate_look(spec: PlateSpec, phot: _Photometry) -> _PlateLook:
    rng = _rng("look", spec.survey, spec.band, spec.region)
    gx, gy = np.clip(rng.normal(0.0, 0.02, 2), -0.05, 0.05)
    e_mid = _E_MID * float(np.clip(rng.normal(1.0, 0.08), 0.8, 1.2))
    return _PlateLook((float(gx), float(gy)), e_mid, phot.grain)


def _add_sky_and_vignetting(exposure: Float32Array, scan: _Scan, r0: int, look: _PlateLook) -> None:
    """Add the sky (1 at the plate centre, with a gentle gradient), then vignette, in place.

    ``u, v`` run from -1 to 1 across the full plate; vignetting is the separable
    ``(1 - a u^2)(1 - a v^2)``, which loses ``_VIGNETTING`` of the light at the corners.
    """
    half = scan.naxis / 2.0
    u = (((scan.x0 + np.arange(scan.nx) + 0.5) - half) / half).astype(np.float32)
    v = (((scan.y0 + np.arange(r0, r0 + exposure.shape[0]) + 0.5) - half) / half).astype(np.float32)
    a = np.float32(1.0 - math.sqrt(1.0 - _VIGNETTING))
    exposure += (1.0 + np.float32(look.gradient[0]) * u)[None, :]
    exposure += (np.float32(look.gradient[1]) * v)[:, None]
    exposure *= (1.0 - a * u * u)[None, :]
    exposure *= (1.0 - a * v * v)[:, None]


def _to_density(
    exposure: Float32Array, noise: Float32Array, look: _PlateLook, out: npt.NDArray[np.int16]
) -> None:
    """Noisy exposure (sky = 1) to photographic density through the characteristic curve.

    Photon/grain noise scales as sqrt(E) in exposure; the curve is a logistic in log E
    (toe, straight line, shoulder) from the fog level to saturation; scanner noise is added
    in density. Works in place on ``exposure`` and ``noise``; writes int16 into ``out``.
    """
    e = exposure
    grain = np.sqrt(e)
    grain *= noise[0]
    grain *= np.float32(look.grain)
    e += grain
    np.maximum(e, np.float32(1e-3), out=e)
    e *= np.float32(1.0 / look.e_mid)
    np.power(e, np.float32(-_GAMMA), out=e)
    e += np.float32(1.0)
    np.divide(np.float32(_SPAN), e, out=e)
    e += np.float32(_FOG)
    noise[1] *= np.float32(_DENSITY_NOISE)
    e += noise[1]
    np.rint(e, out=e)
    np.clip(e, DATA_MIN, DATA_MAX, out=e)
    out[...] = e


def render_plate_pixels(
    spec: PlateSpec,
    header: fits.Header,
    *,
    seed: int = 0,
    progress: Callable[[int], object] | None = None,
) -> npt.NDArray[np.int16]:
    """Render the pixels of a (partial) scan of a synthetic plate.

    Parameters
    ----------
    spec
        The plate.
    header
        Its header from ``plate_header`` (full plate or partial scan): ``CNPIX1/2`` and
        ``NAXIS1/2`` give the scan area, the plate solution maps the sky onto it.
    seed
        Non-negative integer seeding stars and noise; galaxies and nebulae are the OpenNGC
        objects whatever the seed. The same (seed, plate, full-plate pixel) always gives
        the same value, so overlapping scans of one plate agree.
    progress
        Called as ``progress(rows)`` after each strip with the number of rows just done
        (they add up to ``NAXIS2``); e.g. ``tqdm.update``.

    Returns
    -------
    numpy.ndarray
        int16, shape ``(NAXIS2, NAXIS1)`` (numpy rows are FITS axis 2), photographic-density
        values between ``DATA_MIN`` and ``DATA_MAX``: sky ~5000-7000 with vignetting towards
        the plate corners, stars with a brightness-dependent core, halo and (for bright
        stars) diffraction spikes, saturated cores near ``DATA_MAX``.

    Notes
    -----
    The sky model lives on the sky (stars per sky cell, OpenNGC objects); sources are placed
    with ``astropy.wcs.WCS(header)``, so they sit where a reader of the header expects them.
    Work is done in strips of at most 256 rows: memory is the int16 output plus a few float32
    strips, whatever the scan size.
    """
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    if header.get("PLATEID") != spec.plate_id or header.get("REGION") != spec.region:
        raise ValueError(f"header is not a header of plate {spec.plate_id} ({spec.region})")
    scan = _Scan.of(spec, header)
    phot = _PHOTOMETRY[(spec.survey, spec.band)]
    look = _plate_look(spec, phot)
    wcs = header_wcs(header)
    cap = _scan_cap(header, scan)
    star_bins = _project_stars(spec, wcs, scan, cap, phot, seed)
    blobs = _project_blobs(spec, wcs, scan, cap, phot)
    key = _plate_key(spec)
    alpha = _halo_alpha(phot)
    out = np.empty((scan.ny, scan.nx), dtype=np.int16)
    for r0, r1 in scan.strips():
        sources = np.zeros((r1 - r0, scan.nx), dtype=np.float32)
        _add_stars(sources, r0, star_bins, alpha)
        _add_blobs(sources, r0, blobs, scan)
        _add_sky_and_vignetting(sources, scan, r0, look)
        _to_density(sources, _strip_noise(scan, r0, r1, seed, key), look, out[r0:r1])
        if progress is not None:
            progress(r1 - r0)
    return out


# -- The demo sky ------------------------------------------------------------------------------

#: Margin added on every side of a demo field, arcmin.
DEMO_MARGIN_ARCMIN = 3.0
#: Largest showcase field: a 60' request field must fit.
_SHOWCASE_MAX_ARCMIN = 60.0
#: Showcase fields are this much larger than the catalogue major axis.
_SHOWCASE_GROWTH = 1.3


@dataclass(frozen=True)
class DemoTarget:
    """A field the demo sky must serve.

    Attributes
    ----------
    name
        Identifier (the request-line identifier for the example lines).
    ra_deg, dec_deg
        Field centre, J2000 degrees.
    size_arcmin
        Side of the square field, arcmin (without the demo margin).
    example
        True for the three example lines of ``REQUEST_FORMAT.md``; these get pixels on every
        plate whose nominal area contains their centre. Showcase objects get them only there
        too (the same rule), sized ~1.3x the object.
    """

    name: str
    ra_deg: float
    dec_deg: float
    size_arcmin: float
    example: bool


@dataclass(frozen=True)
class DemoScan:
    """A partial scan the demo needs: plate, full-plate pixel origin and size.

    ``x0, y0`` are 0-based full-plate pixel indices (``CNPIX1/2``), ``nx, ny`` the size
    (``NAXIS1/2``); ``plate_header(spec, x0=x0, y0=y0, nx=nx, ny=ny)`` is its header.
    ``targets`` names the demo fields the scan serves. There is at most one scan per plate.
    """

    spec: PlateSpec
    x0: int
    y0: int
    nx: int
    ny: int
    targets: tuple[str, ...]

    @property
    def pixels(self) -> int:
        """Number of pixels of the scan."""
        return self.nx * self.ny

    def header(self) -> fits.Header:
        """The scan's DSS header."""
        return plate_header(self.spec, x0=self.x0, y0=self.y0, nx=self.nx, ny=self.ny)


def _ongc_position(name: str) -> tuple[float, float, float]:
    """J2000 position (deg) and major axis (arcmin) of an OpenNGC object."""
    query = "SELECT ra, dec, majax FROM objects WHERE name = ?"
    with sqlite3.connect(f"file:{pyongc.DBPATH}?mode=ro", uri=True) as db:
        row = db.execute(query, (name,)).fetchone()
    if row is None:
        raise LookupError(f"{name} is not in OpenNGC")
    return math.degrees(row[0]), math.degrees(row[1]), float(row[2])


def _b1950_to_j2000(ra_deg: float, dec_deg: float) -> tuple[float, float]:
    """FK4 B1950 (epoch B1950) to FK5 J2000 with astropy."""
    c = SkyCoord(ra=ra_deg, dec=dec_deg, unit="deg", frame=FK4(equinox="B1950"))
    j = c.transform_to(FK5(equinox="J2000"))
    return float(j.ra.deg), float(j.dec.deg)


@lru_cache(maxsize=1)
def _demo_targets() -> tuple[DemoTarget, ...]:
    field01 = _b1950_to_j2000(15 * (12 + 5 / 60 + 13 / 3600), 30 + 45 / 60 + 32 / 3600)
    n7793 = (15 * (23 + 57 / 60 + 49.4 / 3600), -(32 + 35 / 60 + 24 / 3600))
    ngc253 = (15 * (0 + 47 / 60 + 34.3 / 3600), -(25 + 17 / 60 + 32 / 3600))
    targets = [
        DemoTarget("field01", *field01, 10.0, True),
        DemoTarget("N7793", *n7793, 60.0, True),
        DemoTarget("NGC253", *ngc253, 45.0, True),
    ]
    for label, ongc in (
        ("M31", "NGC0224"),
        ("M42", "NGC1976"),
        ("M51", "NGC5194"),
        ("M101", "NGC5457"),
        ("NGC253-galaxy", "NGC0253"),
        ("NGC7793-galaxy", "NGC7793"),
    ):
        ra, dec, major = _ongc_position(ongc)
        size = min(_SHOWCASE_GROWTH * major, _SHOWCASE_MAX_ARCMIN)
        targets.append(DemoTarget(label, ra, dec, size, False))
    return tuple(targets)


def demo_targets() -> list[DemoTarget]:
    """The fields of the demo sky: the three example lines of ``REQUEST_FORMAT.md``
    (field01 converted from B1950 with astropy's FK4 -> FK5) and the showcase objects M31,
    M42, M51, M101, NGC 253 and NGC 7793 (OpenNGC positions)."""
    return list(_demo_targets())


def _plate_sets() -> list[list[PlateSpec]]:
    """DSS1, then each DSS2 band: every set covers the whole sky."""
    dss2 = survey_catalogue("DSS2")
    return [survey_catalogue("DSS1")] + [[p for p in dss2 if p.band == b] for b in BANDS]


def _scan_box(spec: PlateSpec, target: DemoTarget) -> tuple[int, int, int, int] | None:
    """Full-plate pixel box ``(x0, y0, x1, y1)`` (half-open) of a target's field plus margin
    on a plate, clipped to the plate; None if the plate does not contain the field centre."""
    cx, cy = plate_sky_to_pixel(spec, target.ra_deg, target.dec_deg)
    lo, hi = -0.5, spec.naxis - 0.5
    if not (lo <= cx[0] <= hi and lo <= cy[0] <= hi):
        return None
    size = target.size_arcmin + 2 * DEMO_MARGIN_ARCMIN
    ra, dec = _square_outline(target.ra_deg, target.dec_deg, size, per_side=16)
    x, y = plate_sky_to_pixel(spec, ra, dec)
    x0, y0 = max(0, math.floor(x.min())), max(0, math.floor(y.min()))
    x1 = min(spec.naxis, math.ceil(x.max()) + 1)
    y1 = min(spec.naxis, math.ceil(y.max()) + 1)
    return x0, y0, x1, y1


def demo_scans() -> list[DemoScan]:
    """The partial scans ``synthesize_plates --demo`` must render.

    For every demo target (``demo_targets``) and every plate set (DSS1, DSS2 R, B, I), each
    plate whose nominal area contains the target centre gets a scan covering the target's
    field plus ``DEMO_MARGIN_ARCMIN`` on every side, clipped to the plate; scans of several
    targets on one plate are merged into their bounding box (one scan per plate). So every
    example line is served whichever covering plate is chosen, and ``N7793`` is on ``04IN``.

    Returns
    -------
    list of DemoScan
        Ordered by survey, band and plate id.
    """
    boxes: dict[PlateSpec, tuple[int, int, int, int]] = {}
    names: dict[PlateSpec, list[str]] = {}
    targets = _demo_targets()
    for plates in _plate_sets():
        ras = np.array([p.ra_deg for p in plates])
        decs = np.array([p.dec_deg for p in plates])
        for target in targets:
            near = _separation_deg(ras, decs, target.ra_deg, target.dec_deg) < 5.0
            for i in np.flatnonzero(near):
                spec = plates[i]
                box = _scan_box(spec, target)
                if box is None:
                    continue
                old = boxes.get(spec, box)
                boxes[spec] = (
                    min(old[0], box[0]),
                    min(old[1], box[1]),
                    max(old[2], box[2]),
                    max(old[3], box[3]),
                )
                names.setdefault(spec, []).append(target.name)
    scans = [
        DemoScan(spec, x0, y0, x1 - x0, y1 - y0, tuple(names[spec]))
        for spec, (x0, y0, x1, y1) in boxes.items()
    ]
    return sorted(scans, key=lambda s: (s.spec.survey, BANDS.index(s.spec.band), s.spec.plate_id))
