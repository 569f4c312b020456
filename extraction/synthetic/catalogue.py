"""The whole-sky synthetic plate catalogue: field centres, dates, labels and plate ids.

``survey_catalogue(survey)`` lists every plate of DSS1 or DSS2 (``survey`` has the
programmes and grids). Each ring of a grid gets just enough fields that plates
``_LAYOUT_INSET_DEG`` smaller than the digitized area cover its dec zone (``_grid_fields``);
each field a night near opposition within the programme years (``_observation``); each plate
an observatory plate number increasing with date per telescope (``_number_plates``) and a
base-36 GSSS plate id in a pseudo-random digitization order (``_serial_plates``). Last,
``04IN`` goes to the SERC J plate that holds NGC 7793's 60' field with most margin, the
plate ``REQUEST_FORMAT.md`` names.

Deterministic (seeded by stable hashes of programme and field) and built once per process.
Plate centres are J2000 degrees; a polar plate sits 3.6 arcsec off the pole (``_off_pole``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache

import numpy as np
import numpy.typing as npt

from extraction.core import surveys as survey_table
from extraction.core.sky import angular_distance_deg
from extraction.synthetic.common import (
    FloatArray,
    _digest,
    _is_leap,
    _rng,
    _square_outline,
)
from extraction.synthetic.headers import plate_sky_to_pixel
from extraction.synthetic.survey import (
    _LAYOUT,
    _SITES,
    SURVEYS,
    PlateSpec,
    _Grid,
    _Programme,
)

#: The plate id ``REQUEST_FORMAT.md`` asks for: the SERC J plate of NGC 7793 (DSS1).
NGC7793_PLATE_ID = "04IN"
_NGC7793_J2000 = (359.4558333333333, -32.59)  # 23 57 49.4, -32 35 24
_NGC7793_FIELD_ARCMIN = 60.0

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
        naxis=survey_table.SURVEYS[survey].plate_size_px,
        pixel_um=survey_table.SURVEYS[survey].pixel_size_um,
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
        and angular_distance_deg(s.ra_deg, s.dec_deg, ra, dec) < 5
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


def _field_margin_px(spec: PlateSpec, ra: float, dec: float, size_arcmin: float) -> float:
    """Smallest distance (pixels) from a square field to the plate edge; < 0 if it sticks out."""
    fra, fdec = _square_outline(ra, dec, size_arcmin)
    x, y = plate_sky_to_pixel(spec, fra, fdec)
    lo, hi = -0.5, spec.naxis - 0.5
    return float(min((x - lo).min(), (hi - x).min(), (y - lo).min(), (hi - y).min()))
