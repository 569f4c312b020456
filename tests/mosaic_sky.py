"""A small synthetic sky for mosaic tests: plates with known windows, offsets and stars.

Pure numpy/astropy (no Django). Each plate is a DSS2 plate whose centre lies a few degrees
from the field, stored as a small window (CNPIX) of the full plate placed so that it covers a
known part of the field; its pixels are one background level plus the plate's own additive
offset, Gaussian stars at catalogue positions (the same sky on every plate) and noise.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from extraction.core.plates import PlateGeometry
from tests.factories import dss_header

FIELD_RA, FIELD_DEC = 150.0, 20.0
BACKGROUND = 3000.0
NOISE_SIGMA = 12.0
STAR_SIGMA_PX = 1.6
STAR_PEAK = 4000.0


@dataclass(frozen=True)
class SkyPlate:
    """A test plate: header (window on the full plate), pixels and the offset put into them."""

    plate_id: str
    header: fits.Header
    data: np.ndarray
    offset: float


def catalogue(n: int = 40, half_size_arcmin: float = 5.0, seed: int = 3) -> np.ndarray:
    """``n`` stars ``(ra, dec)`` in degrees within ``half_size_arcmin`` of the field centre."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(-half_size_arcmin, half_size_arcmin, size=(n, 2)) / 60.0
    ra = FIELD_RA + d[:, 0] / math.cos(math.radians(FIELD_DEC))
    return np.stack([ra, FIELD_DEC + d[:, 1]], axis=1)


def _window_header(
    plate_id: str,
    centre: tuple[float, float],
    sky_box: tuple[float, float, float, float],
) -> fits.Header:
    """Header of a DSS2 plate centred on ``centre`` whose stored window covers the sky box
    ``(ra_min, ra_max, dec_min, dec_max)`` (degrees) exactly (to a pixel)."""
    full = dss_header(*centre, survey="DSS2", plate_id=plate_id, naxis=(23040, 23040))
    geometry = PlateGeometry(full)
    ra_min, ra_max, dec_min, dec_max = sky_box
    ras = np.array([ra_min, ra_max, ra_min, ra_max])
    decs = np.array([dec_min, dec_min, dec_max, dec_max])
    xs, ys = geometry.sky_to_pixel(ras, decs)
    x0, x1 = math.floor(xs.min()), math.ceil(xs.max()) + 1
    y0, y1 = math.floor(ys.min()), math.ceil(ys.max()) + 1
    header = dss_header(
        *centre, survey="DSS2", plate_id=plate_id, corner=(x0, y0), naxis=(x1 - x0, y1 - y0)
    )
    header["REGION"] = f"X1{plate_id[-2:]}"
    header["EPOCH"] = 1990.0 + len(plate_id) + int(plate_id[-1]) * 0.5
    return header


def render(header: fits.Header, stars: np.ndarray, offset: float, seed: int) -> np.ndarray:
    """int16 pixels of the header's window: background + offset + stars + noise."""
    geometry = PlateGeometry(header)
    ny, nx = int(header["NAXIS2"]), int(header["NAXIS1"])
    rng = np.random.default_rng(seed)
    image = BACKGROUND + offset + rng.normal(0.0, NOISE_SIGMA, size=(ny, nx))
    xs, ys = geometry.sky_to_pixel(stars[:, 0], stars[:, 1])
    yy, xx = np.mgrid[0:ny, 0:nx]
    for x, y in zip(xs, ys, strict=True):
        if -10 < x < nx + 10 and -10 < y < ny + 10:
            image += STAR_PEAK * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * STAR_SIGMA_PX**2))
    return np.clip(np.rint(image), 0, 32767).astype(np.int16)


@functools.cache
def field_plates() -> tuple[SkyPlate, ...]:
    """Three plates around a 10'x10' field at (150, +20), each a window of its full plate:

    - ``4M01`` (offset 0) covers the eastern part (east of 0.2 half-field west of centre),
    - ``4M02`` (offset +400 ADU) the western part, overlapping 4M01 in the middle, but
      only up to 0.6 half-field north of the centre,
    - ``4M03`` (offset -250 ADU) a band along the south, overlapping both,
    so nothing covers the north-west corner. The stars are :func:`catalogue`'s. Rendered
    once per process (the pixels must not be changed by the caller).
    """
    stars = catalogue()
    # Plate id, plate centre offset (deg east, deg north), offset put into the pixels, and
    # the window as (west, east, south, north) edges in half-fields from the field centre.
    layout = [
        ("4M01", (2.6, 0.4), 0.0, (-0.2, 1.3, -1.3, 1.3)),
        ("4M02", (-2.4, -0.3), 400.0, (-1.3, 0.2, -1.3, 0.6)),
        ("4M03", (0.2, 2.7), -250.0, (-1.3, 1.3, -1.3, -0.5)),
    ]
    cosd = math.cos(math.radians(FIELD_DEC))
    half = 5.0 / 60.0  # half field, degrees
    plates = []
    for n, (plate_id, (east, north), offset, (w, e, s, n_)) in enumerate(layout):
        centre = (FIELD_RA + east / cosd, FIELD_DEC + north)
        sky_box = (
            FIELD_RA + w * half / cosd,
            FIELD_RA + e * half / cosd,
            FIELD_DEC + s * half,
            FIELD_DEC + n_ * half,
        )
        header = _window_header(plate_id, centre, sky_box)
        plates.append(SkyPlate(plate_id, header, render(header, stars, offset, seed=n), offset))
    return tuple(plates)
