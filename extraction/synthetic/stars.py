"""The star model of the synthetic sky: stars per sky cell, the same on every plate.

The sky is cut into cells of 1 deg in dec by ~1 deg on the sky in RA (``_cells_per_band``);
the stars of a cell are a function of ``(seed, cell)`` only (``_cell_stars``), so every
plate, scan and strip that sees a star sees the same star. Cumulative counts follow
``log10 N(<R) = 0.3 R + c`` with ``STAR_COUNTS_R21_PER_DEG2`` stars brighter than R = 21
per square degree at the galactic poles, times ``1 + 9 exp(-|b| / 10 deg)`` towards the
galactic plane (``star_density_per_deg2``). Positions are RA/Dec J2000 degrees; magnitudes
are photographic R (POSS-I E / IIIaF), B_J (IIIaJ) and I (IV-N).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from astropy.coordinates import SkyCoord

from extraction.core.sky import angular_distance_deg
from extraction.synthetic.common import FloatArray, IntArray

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
    near = angular_distance_deg(stars.ra_deg, stars.dec_deg, ra_deg, dec_deg) <= radius_deg
    return stars.select(near)
