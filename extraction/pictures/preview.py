"""PNG quick-looks of cut-outs for the web pages (astropy.visualization stretch, Pillow).

Pure numpy/astropy/Pillow; no Django.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.visualization import AsinhStretch, ZScaleInterval
from PIL import Image

PREVIEW_MAX_PX = 512


def _binned(data: npt.NDArray[np.float32], max_px: int) -> npt.NDArray[np.float32]:
    """Block-average so that neither side exceeds ``max_px`` (keeps noise honest, not aliased).

    NaN (off-plate) pixels make their whole block NaN, which is shown black like the rest of
    the off-plate area; ``nanmean`` would cost several times more on every preview.
    """
    factor = max(1, int(np.ceil(max(data.shape) / max_px)))
    if factor == 1:
        return data
    ny, nx = (data.shape[0] // factor) * factor, (data.shape[1] // factor) * factor
    # Summing strided views is several times faster than a mean over a 4-D reshaped view.
    total = np.zeros((ny // factor, nx // factor), dtype=np.float32)
    for dy in range(factor):
        for dx in range(factor):
            total += data[dy:ny:factor, dx:nx:factor]
    total /= np.float32(factor * factor)
    return total


def preview_png(
    data: npt.NDArray[np.int16],
    valid: npt.NDArray[np.bool_] | None = None,
    *,
    max_px: int = PREVIEW_MAX_PX,
    image_format: str = "PNG",
) -> bytes:
    """An 8-bit grey PNG of a cut-out, north up as in the FITS file (row 0 at the bottom).

    ``image_format`` ``"GIF"`` or ``"JPEG"`` gives that format instead (the old DSS services'
    quick-looks).

    Pixels off the plate (``valid`` False) are shown black. The grey scale is the zscale
    interval with a mild asinh stretch, the usual first look at photographic plate data.
    """
    image = data.astype(np.float32)
    if valid is not None and not valid.all():
        image[~valid] = np.nan
    image = _binned(image, max_px)
    finite = np.isfinite(image)
    if finite.any():
        vmin, vmax = ZScaleInterval().get_limits(image[finite])
        span = vmax - vmin if vmax > vmin else 1.0
        linear = np.clip(np.nan_to_num((image - vmin) / span, nan=0.0), 0.0, 1.0)
        scaled = np.clip(AsinhStretch(0.5)(linear), 0.0, 1.0)
    else:
        scaled = np.zeros_like(image)
    pixels = (np.flipud(scaled) * 255.0 + 0.5).astype(np.uint8)
    buffer = io.BytesIO()
    # zlib level 1: grainy plate images hardly compress better at higher levels.
    options = {"PNG": {"compress_level": 1}, "JPEG": {"quality": 90}}.get(image_format, {})
    Image.fromarray(pixels, mode="L").save(buffer, format=image_format, **options)
    return buffer.getvalue()


def fits_preview_png(fits_file: bytes, *, max_px: int = PREVIEW_MAX_PX) -> bytes:
    """The quick-look of a cut-out file as written (uncompressed FITS bytes, see
    ``core.cutout.fits_bytes``): its primary image, with ``BLANK`` pixels (off the plate)
    shown black.

    Raises
    ------
    ValueError
        When the primary HDU holds no 2-D image.
    """
    with fits.open(io.BytesIO(fits_file), do_not_scale_image_data=True) as hdul:
        primary = hdul[0]
        data = primary.data
        if data is None or data.ndim != 2:
            raise ValueError("the file holds no 2-D image")
        blank = primary.header.get("BLANK")
        valid = None if blank is None else data != blank
        return preview_png(np.asarray(data, dtype=np.int16), valid, max_px=max_px)
