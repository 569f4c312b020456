"""A plate file whose ``HCOMPRESS_1`` tiles are the media's blocks, byte for byte.

The file is what :func:`extraction.core.platestore.write_plate` writes (an empty primary HDU
and a tile-compressed image HDU of 500x500-pixel tiles, read by ``CompImageHDU.section``),
except that the compressed tiles are not made here: each is a disc block with its sumall
widened (:func:`extraction.core.media.blocks.widen`). Nothing is decoded and re-encoded, so
the stored pixels are exactly what the discs hold and writing costs only the copy.

The tile-compressed HDU is written directly (FITS standard 4.0 section 10 and the tiled
image compression convention): a binary table with one variable-length byte column
``COMPRESSED_DATA`` (``1PB``), one row per tile in FITS order (axis 1 fastest, i.e. block
columns within block rows), the tile streams in the heap.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from astropy.io import fits

from extraction.core.media.blocks import BLOCK_SIZE, BlockError, disc_header, widen
from extraction.core.media.layout import PlateDirectory, block_grid
from extraction.core.media.reader import decode_checked, read_block_stream

_BLOCK = 2880


def _primary_header() -> bytes:
    header = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
    return header.tostring().encode("ascii")


def _table_header(
    tiles: Sequence[bytes], shape: tuple[int, int], scale: int, cards: fits.Header
) -> bytes:
    rows, cols = shape
    header = fits.Header()
    header["XTENSION"] = ("BINTABLE", "binary table extension")
    header["BITPIX"] = 8
    header["NAXIS"] = 2
    header["NAXIS1"] = (8, "one 1PB descriptor per row")
    header["NAXIS2"] = (len(tiles), "one row per tile")
    header["PCOUNT"] = (sum(len(t) for t in tiles), "heap size")
    header["GCOUNT"] = 1
    header["TFIELDS"] = 1
    header["TTYPE1"] = "COMPRESSED_DATA"
    header["TFORM1"] = f"1PB({max(len(t) for t in tiles)})"
    header["ZIMAGE"] = (True, "tile-compressed image")
    header["ZTILE1"] = min(BLOCK_SIZE, cols)
    header["ZTILE2"] = min(BLOCK_SIZE, rows)
    header["ZCMPTYPE"] = ("HCOMPRESS_1", "the DSS media blocks, unchanged")
    header["ZNAME1"] = "SCALE"
    header["ZVAL1"] = (scale, "largest block scale; each has its own")
    header["ZNAME2"] = "SMOOTH"
    header["ZVAL2"] = (0, "no smoothing when decoding")
    header["ZBITPIX"] = 16
    header["ZNAXIS"] = 2
    header["ZNAXIS1"] = cols
    header["ZNAXIS2"] = rows
    header.extend(cards.cards)
    return header.tostring().encode("ascii")


def write_tiled_plate(
    path: Path,
    tiles: Sequence[bytes],
    shape: tuple[int, int],
    cards: fits.Header,
    *,
    scale: int,
) -> int:
    """Write a plate file of ready ``HCOMPRESS_1`` tiles, atomically; return its size.

    Parameters
    ----------
    path
        Destination; its directory must exist. The file is written as ``.<name>.partial``
        beside it (the same name every time, so an interrupted run leaves at most one such
        file per plate, overwritten by the next) and renamed into place when complete.
    tiles
        FITS-form tile streams, in FITS tile order (block columns within block rows).
    shape
        Plate shape ``(rows, cols)``: NAXIS2, NAXIS1.
    cards
        The plate's own header cards (no layout cards: see ``plate_header_cards``).
    scale
        Recorded as ZVAL1 for information; decoding reads each tile's own scale.
    """
    temp = path.with_name(f".{path.name}.partial")
    descriptors = bytearray()
    offset = 0
    for tile in tiles:
        descriptors += struct.pack(">ii", len(tile), offset)
        offset += len(tile)
    with temp.open("wb") as handle:
        handle.write(_primary_header())
        handle.write(_table_header(tiles, shape, scale, cards))
        handle.write(descriptors)
        for tile in tiles:
            handle.write(tile)
        handle.write(b"\0" * (-(len(descriptors) + offset) % _BLOCK))
        handle.flush()
        os.fsync(handle.fileno())
        size = handle.tell()
    os.replace(temp, path)
    return size


def plate_tiles(
    plate: PlateDirectory,
    shape: tuple[int, int],
    *,
    progress: Callable[[int], object] | None = None,
    jobs: int = 1,
) -> tuple[list[bytes], int]:
    """The FITS-form tiles of every block of a plate, each checked to decode to its size.

    Parameters
    ----------
    plate
        The plate's blocks on the media.
    shape
        Plate shape ``(NAXIS2, NAXIS1)`` from its header.
    progress
        Called with 1 after each block.
    jobs
        Processes decoding blocks at once (checking is the import's whole cost: about 0.1 s
        a block, a minute or two a plate on one core).

    Returns
    -------
    tiles, scale
        Tiles in FITS order, and the largest block scale.

    Raises
    ------
    BlockError
        A block is missing, unreadable, does not decode or has the wrong size; its name and
        file are in the message (the first three such blocks in FITS order, and how many
        more). Nothing has been written.
    """
    n_rows, n_cols = block_grid(*shape)
    places = [(row, col) for row in range(n_rows) for col in range(n_cols)]
    streams = [read_block_stream(plate, row, col) for row, col in places]
    checks = [
        (plate, row, col, shape, stream) for (row, col), stream in zip(places, streams, strict=True)
    ]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            problems = list(_reporting(pool.map(_block_problem, checks, chunksize=8), progress))
    else:
        problems = list(_reporting(map(_block_problem, checks), progress))
    found = [problem for problem in problems if problem is not None]
    if found:
        more = f"; and {len(found) - 3} more bad blocks" if len(found) > 3 else ""
        raise BlockError("; ".join(found[:3]) + more)
    scale = max(disc_header(stream).scale for stream in streams)
    return [widen(stream) for stream in streams], scale


def _block_problem(
    check: tuple[PlateDirectory, int, int, tuple[int, int], bytes],
) -> str | None:
    """What is wrong with one block, or None (a message travels between processes)."""
    plate, row, col, shape, stream = check
    try:
        decode_checked(plate, row, col, shape, stream, check_end=True)
    except BlockError as exc:
        return str(exc)
    return None


def _reporting(
    results: Iterable[str | None], progress: Callable[[int], object] | None
) -> Iterator[str | None]:
    for result in results:
        if progress is not None:
            progress(1)
        yield result
