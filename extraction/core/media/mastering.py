"""Writing plates in the layout of the DSS media, for tests and benchmarks.

The portal never writes media; tests and ``bench/bench_media.py`` build their own with these
functions instead of shipping disc material (which is copyrighted): blocks H-compressed by
astropy's encoder and narrowed to the disc format, a ``.hhh`` header of unpadded 80-byte
cards, and plate-list records.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from extraction.core.media.blocks import BLOCK_SIZE, encode_block
from extraction.core.media.layout import block_grid, block_suffix
from extraction.core.media.texts import ListedPlate


def write_plate_blocks(
    directory: Path,
    region: str,
    pixels: npt.NDArray[np.integer],
    *,
    scale: int,
    name: Callable[[str], str] = str.upper,
) -> dict[str, Path]:
    """H-compress ``pixels`` block by block into ``directory/<region>.<R><C>`` files.

    Parameters
    ----------
    pixels
        The plate, numpy order ``[y, x]``; blocks of 500x500, shorter at the far edges.
    scale
        hcompress scale (0 lossless; ~10x compression on the DSS1 discs).
    name
        Turns ``<region>.<R><C>`` into the file name (default upper case, as on the discs;
        e.g. ``lambda n: n.upper() + ";1"`` adds an ISO 9660 version).

    Returns
    -------
    dict
        ``<region>.<R><C>`` (lower case) -> the file written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    n_rows, n_cols = block_grid(*pixels.shape)
    written = {}
    for row in range(n_rows):
        for col in range(n_cols):
            block = pixels[
                row * BLOCK_SIZE : (row + 1) * BLOCK_SIZE, col * BLOCK_SIZE : (col + 1) * BLOCK_SIZE
            ]
            key = f"{region.lower()}.{block_suffix(row, col)}"
            path = directory / name(key)
            path.write_bytes(encode_block(block, scale=scale))
            written[key] = path
    return written


def hhh_bytes(header: fits.Header) -> bytes:
    """``header`` as a ``.hhh`` file: 80-byte cards and END, no padding, no line ends."""
    text = "".join(card.image for card in header.cards) + "END".ljust(80)
    return text.encode("ascii")


def plate_list_record(plate: ListedPlate) -> bytes:
    """One 80-byte plate-list record (region, plate id, centre, epoch, survey, volume)."""
    ra_h = (plate.ra_deg / 15.0) % 24.0
    rah, ram = int(ra_h), int(ra_h * 60) % 60
    ras = (ra_h * 3600) % 60
    dec = abs(plate.dec_deg)
    decd, decm = int(dec), int(dec * 60) % 60
    decs = (dec * 3600) % 60
    sign = "-" if plate.dec_deg < 0 else "+"
    text = (
        f"{plate.region:<6}{plate.plate_id:<6}{rah:02d} {ram:02d} {ras:05.2f}  "
        f"{sign}{decd:02d} {decm:02d} {decs:04.1f}  {plate.epoch:7.2f} "
        f"{plate.survey:<8} {plate.volume}"
    )
    return text.ljust(80)[:80].encode("ascii")
