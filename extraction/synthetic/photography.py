"""The photographic plate: band response, scan frame, sky, grain and density.

``_PHOTOMETRY`` gives each survey band its plate limit, seeing and grain, and ``_flux``
turns magnitudes into total flux in units of the sky level per pixel (the sky is exposure 1
at the plate centre). ``_Scan`` is the pixel frame of a (partial) scan and cuts it into
rendering strips. A strip of exposure gets a per-plate sky gradient and vignetting
(``_add_sky_and_vignetting``), then grain noise and a logistic characteristic curve from the
fog level to saturation (``_to_density``): int16 values between ``DATA_MIN`` and
``DATA_MAX``.

Noise is drawn per ``_NOISE_BLOCK``-square block of the full plate, seeded by (seed, plate,
block) (``_strip_noise``), so two scans of one plate agree wherever they overlap. Arrays are
numpy ``[row, column]``, i.e. (FITS axis 2, FITS axis 1); rows and columns are 0-based scan
pixels, ``x0 + column`` and ``y0 + row`` the 0-based full-plate pixel indices.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from extraction.synthetic.common import Float32Array, FloatArray, _digest, _rng
from extraction.synthetic.headers import DATA_MAX, DATA_MIN
from extraction.synthetic.survey import PlateSpec


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
#: Characteristic curve: value = fog + span / (1 + (E / E_mid) ** -gamma), sky E = 1.
_FOG, _SPAN, _GAMMA, _E_MID = 2600.0, 19000.0, 1.2, 3.17
_DENSITY_NOISE = 25.0  # scanner/density noise, data units
_VIGNETTING = 0.12  # relative sky loss at the plate corners
_NOISE_BLOCK = 256  # noise is generated per 256x256 block of the full plate
_STRIP_ROWS = 256  # rows per rendering strip (a multiple of _NOISE_BLOCK)


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
