"""The demo sky: the fields the demo must serve and the partial scans that serve them.

``demo_targets`` are the three example lines of ``REQUEST_FORMAT.md`` and six showcase
objects (OpenNGC positions); ``demo_scans`` are the partial scans ``synthesize_plates
--demo`` renders. On each plate set (DSS1, DSS2 R, B, I), every plate whose nominal area
contains a target centre gets the target's field plus ``DEMO_MARGIN_ARCMIN`` on every side,
clipped to the plate; the boxes of one plate merge into one scan. Scan origins ``x0, y0``
are 0-based full-plate pixel indices (``CNPIX1/2``), sizes ``nx, ny`` pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from astropy.coordinates import FK4, FK5, SkyCoord
from astropy.io import fits

from extraction.core.sky import angular_distance_deg
from extraction.synthetic.catalogue import survey_catalogue
from extraction.synthetic.common import _square_outline
from extraction.synthetic.headers import plate_header, plate_sky_to_pixel
from extraction.synthetic.ongc import _ongc_position
from extraction.synthetic.survey import BANDS, PlateSpec

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
            near = angular_distance_deg(ras, decs, target.ra_deg, target.dec_deg) < 5.0
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
