"""Galaxies, nebulae and globular clusters of the synthetic sky, from OpenNGC.

Objects are read from ``pyongc``'s SQLite database (read-only) with their catalogue
positions, sizes, position angles and magnitudes, and turned into elliptical Sersic
components (``_Components``, one row per component): de Vaucouleurs ellipticals,
exponential discs with an r^1/4 bulge and, for spirals of 3' and more, two arms; nebulae a
Gaussian core and a textured exponential envelope; globular clusters n = 2.5. How a
component is drawn on a scan is ``blobs``.

Units: positions J2000 degrees, half-light radii ``re_arcsec`` arcsec along the major axis,
position angles degrees north through east, component magnitudes in R, B and I.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pyongc

from extraction.synthetic.common import FloatArray, IntArray, _digest

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


def _sersic_b(n: Any) -> Any:
    """b_n of the Sersic profile (Ciotti & Bertin 1999 expansion)."""
    return 2 * n - 1 / 3 + 4 / (405 * n) + 46 / (25515 * n * n)


def _sersic_area(n: float | FloatArray, q: float | FloatArray, b_n: float | FloatArray) -> Any:
    """Total flux of a Sersic profile over its intensity at r_e, in units of r_e^2."""
    gamma = np.vectorize(math.gamma)(2 * np.asarray(n, float))
    return 2 * np.pi * n * q * np.exp(b_n) * gamma / b_n ** (2 * n)


def _ongc_position(name: str) -> tuple[float, float, float]:
    """J2000 position (deg) and major axis (arcmin) of an OpenNGC object."""
    query = "SELECT ra, dec, majax FROM objects WHERE name = ?"
    with sqlite3.connect(f"file:{pyongc.DBPATH}?mode=ro", uri=True) as db:
        row = db.execute(query, (name,)).fetchone()
    if row is None:
        raise LookupError(f"{name} is not in OpenNGC")
    return math.degrees(row[0]), math.degrees(row[1]), float(row[2])
