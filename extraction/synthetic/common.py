"""Helpers shared by the modules of the synthetic sky: array types, stable seeds, sky geometry.

Pure numpy; no Django. Angles are degrees unless a name says otherwise (standard
coordinates ``xi, eta`` are radians); sky positions are RA/Dec J2000 (FK5), RA in [0, 360).

``_digest`` and ``_rng`` derive a hash or a random generator from a tuple of parts, the same
in every process and release (Python's ``hash`` is salted per process): everything the
synthetic sky draws at random is a function of such a tuple, which is what makes the
catalogue and the pixels deterministic.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt

from extraction.core.sky import gnomonic_deproject_deg

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

_ARCSEC_PER_RAD = 180.0 / math.pi * 3600.0


def _digest(*parts: object) -> bytes:
    """A stable hash of ``parts`` (Python's ``hash`` is salted per process)."""
    return hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).digest()


def _rng(*parts: object) -> np.random.Generator:
    """A generator seeded by a stable hash of ``parts``."""
    return np.random.default_rng(list(np.frombuffer(_digest(*parts), dtype=np.uint32)))


def _is_leap(year: int) -> bool:
    """Gregorian leap year."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _square_outline(
    ra: float, dec: float, size_arcmin: float, per_side: int = 8
) -> tuple[FloatArray, FloatArray]:
    """Points on the outline of a square field (sides along N and E at its centre)."""
    t = np.linspace(-1.0, 1.0, per_side + 1)
    ones = np.ones_like(t)
    half = math.tan(math.radians(size_arcmin / 120.0))
    xi = half * np.concatenate([t, ones, -t, -ones])
    eta = half * np.concatenate([-ones, t, ones, -t])
    return gnomonic_deproject_deg(ra, dec, xi, eta)
