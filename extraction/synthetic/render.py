"""Pixels of a synthetic scan: ``render_plate_pixels``, and the star images it draws.

The pipeline: a sky circle around the scan (``_scan_cap``); the stars (``stars``) and the
OpenNGC components (``blobs``) that touch the scan, placed through
``astropy.wcs.WCS(header)``; then, strip by strip of at most ``_STRIP_ROWS`` rows, star
images and components added to a float32 exposure, sky and vignetting, and photographic
density (``photography``). A star image is a Gaussian core, a Moffat halo and, for bright
stars, diffraction spikes, on a square stamp whose radius (one of ``_STAMP_RADII``, pixels)
grows with brightness. Star pixel positions are 0-based scan pixels (x column, y row).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.wcs import WCS

from extraction.core.sky import angular_distance_deg
from extraction.synthetic.blobs import _add_blobs, _project_blobs
from extraction.synthetic.common import (
    Float32Array,
    FloatArray,
    IntArray,
)
from extraction.synthetic.headers import dss_pixel_to_world, header_wcs
from extraction.synthetic.photography import (
    _DRAW_THRESHOLD,
    _HALO_ALPHA_SIGMAS,
    _HALO_BETA,
    _HALO_FRACTION,
    _PHOTOMETRY,
    _SPIKE_FRACTION,
    _add_sky_and_vignetting,
    _flux,
    _Photometry,
    _plate_key,
    _plate_look,
    _Scan,
    _strip_noise,
    _to_density,
)
from extraction.synthetic.stars import sky_stars
from extraction.synthetic.survey import PlateSpec

#: Stamp radii, pixels: a star gets the smallest that holds it down to _DRAW_THRESHOLD.
_STAMP_RADII = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 160)
_STAMP_CHUNK = 1_000_000  # stamp pixels evaluated at once


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
    radius = float(angular_distance_deg(ra, dec, ra0, dec0).max())
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
