"""Extended objects on a scan: the OpenNGC Sersic components in the scan's pixel frame.

``_project_blobs`` picks the components (``ongc``) whose drawn extent reaches the scan and
maps each through the local Jacobian of the plate WCS (``_Blob``); ``_add_blobs`` adds them
to a strip of exposure. Spiral arms (``_spiral_arms``) and nebular textures
(``_nebular_log_texture``) are evaluated on a lattice of full-plate nodes every
``_TEXTURE_STEP`` pixels and interpolated (``_on_nodes``), so strips and overlapping scans
of a plate agree. Intensities are in units of the sky level per pixel; profiles are drawn
down to ``_DRAW_THRESHOLD``. Pixel offsets are 0-based scan pixels (x column, y row).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from astropy.wcs import WCS

from extraction.core.sky import angular_distance_deg, gnomonic_deproject_deg
from extraction.synthetic.common import (
    _ARCSEC_PER_RAD,
    Float32Array,
    FloatArray,
    IntArray,
)
from extraction.synthetic.ongc import (
    _Components,
    _ongc_components,
    _sersic_area,
    _sersic_b,
)
from extraction.synthetic.photography import (
    _DRAW_THRESHOLD,
    _flux,
    _Photometry,
    _Scan,
)
from extraction.synthetic.survey import BANDS, PlateSpec


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
    d = angular_distance_deg(comps.ra_deg, comps.dec_deg, ra, dec)
    near = np.flatnonzero(d <= radius + extent / 3600.0)
    return comps.select(near), extent[near]


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
    pra, pdec = gnomonic_deproject_deg(
        ra, dec, np.array([0.0, step, 0.0]), np.array([0.0, 0.0, step])
    )
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
