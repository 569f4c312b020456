"""Spherical helpers shared by the core: great-circle distance and the gnomonic projection.

Pure numpy; no Django. Sky positions are RA/Dec in degrees (any equinox, as long as both
sides of a call use the same one); RA results are in [0, 360). *Standard coordinates*
``(xi, eta)`` are the gnomonic (TAN) projection about a tangent point ``(ra0, dec0)``:
``xi`` grows to the east, ``eta`` to the north, both 0 at the tangent point.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def angular_distance_deg(
    ra1_deg: npt.ArrayLike, dec1_deg: npt.ArrayLike, ra2_deg: npt.ArrayLike, dec2_deg: npt.ArrayLike
) -> FloatArray:
    """Great-circle distance in degrees (Vincenty's formula; broadcasts).

    Accurate at all separations, across RA = 0/360 and at the poles.
    """
    ra1, dec1, ra2, dec2 = (
        np.radians(np.asarray(v, dtype=float)) for v in (ra1_deg, dec1_deg, ra2_deg, dec2_deg)
    )
    dra = ra2 - ra1
    sin_d1, cos_d1 = np.sin(dec1), np.cos(dec1)
    sin_d2, cos_d2 = np.sin(dec2), np.cos(dec2)
    num = np.hypot(cos_d2 * np.sin(dra), cos_d1 * sin_d2 - sin_d1 * cos_d2 * np.cos(dra))
    den = sin_d1 * sin_d2 + cos_d1 * cos_d2 * np.cos(dra)
    return np.degrees(np.arctan2(num, den))


def gnomonic_project_deg(
    ra_deg: FloatArray, dec_deg: FloatArray, ra0_deg: float, dec0_deg: float
) -> tuple[FloatArray, FloatArray]:
    """Standard coordinates ``(xi, eta)`` in **degrees** of (RA, Dec) about (ra0, dec0).

    Every argument is in degrees. Points 90 deg or more from the tangent point have no
    projection (the results are infinite or of the wrong sign there).
    """
    ra_r, dec_r = np.radians(ra_deg), np.radians(dec_deg)
    ra0_r, dec0_r = math.radians(ra0_deg), math.radians(dec0_deg)
    cos_c = np.sin(dec0_r) * np.sin(dec_r) + np.cos(dec0_r) * np.cos(dec_r) * np.cos(ra_r - ra0_r)
    xi = np.cos(dec_r) * np.sin(ra_r - ra0_r) / cos_c
    eta = (
        np.cos(dec0_r) * np.sin(dec_r) - np.sin(dec0_r) * np.cos(dec_r) * np.cos(ra_r - ra0_r)
    ) / cos_c
    return np.degrees(xi), np.degrees(eta)


def gnomonic_deproject_deg(
    ra0_deg: float | FloatArray,
    dec0_deg: float | FloatArray,
    xi_rad: FloatArray,
    eta_rad: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """RA/Dec in degrees of standard coordinates ``(xi, eta)`` in **radians** about (ra0, dec0).

    The inverse of ``gnomonic_project_deg`` (which gives degrees: convert first). The
    tangent point is in degrees (one, or an array broadcasting against the offsets); RA
    comes back in [0, 360), Dec in [-90, 90]. Exact at the tangent point and well behaved
    at the poles.
    """
    # Tangent points may be arrays broadcasting against the offsets (many plates at once).
    d0 = np.radians(dec0_deg)
    den = np.cos(d0) - eta_rad * np.sin(d0)
    ra = np.radians(ra0_deg) + np.arctan2(xi_rad, den)
    dec = np.arctan2(np.sin(d0) + eta_rad * np.cos(d0), np.hypot(xi_rad, den))
    return np.degrees(ra) % 360.0, np.degrees(dec)
