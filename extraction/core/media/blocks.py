"""One block of a plate on the DSS media: an H-compressed stream of at most 500x500 pixels.

The stream (R. White's hcompress as used on the DSS1 and RealSky discs) starts with a fixed
header, all integers big-endian::

    offset  size  field
         0     2  magic, bytes DD 99
         2     4  nx: number of rows of the block (numpy axis 0, FITS axis 2)
         6     4  ny: number of columns (numpy axis 1, FITS axis 1)
        10     4  scale (the quantisation step; 0 or 1 is lossless)
        14     4  sumall (the H-transform's DC coefficient, the scaled sum of all pixels)
        18     3  number of bit planes of the three quadrant groups
        21     -  the quadtree-coded bit planes

The FITS ``HCOMPRESS_1`` tile codec of CFITSIO (bundled by astropy) reads and writes the same
stream except that sumall is 8 bytes. :func:`widen` sign-extends sumall, which turns a disc
block into a ``HCOMPRESS_1`` tile byte for byte otherwise; :func:`narrow` is its inverse and
makes disc-format blocks from astropy's encoder (tests and benchmarks build their media that
way). Both are verified in ``tests/test_media.py``: a lossless block survives
``narrow`` -> ``widen`` -> decode bit for bit, and CFITSIO refuses the narrow form.

Decoding is CFITSIO's, without smoothing (``smooth=False``), exactly what a FITS reader does
with the stored tile.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy.io.fits.hdu.compressed._codecs import HCompress1

MAGIC = b"\xdd\x99"
#: Bytes before the quadtree data in the disc form (sumall 4 bytes) and the FITS form (8).
DISC_HEADER_BYTES = 21
FITS_HEADER_BYTES = 25
_SUMALL_OFFSET = 14
#: Pixels per side of a full block on the media.
BLOCK_SIZE = 500
#: Bytes appended when checking that a decoder stays within a stream: more than it can
#: over-read in a 500x500 block before failing (at most a few bit planes' worth).
_TAIL_MARGIN = 1 << 16


class BlockError(ValueError):
    """A block stream that is not a readable H-compressed block (truncated, garbage...)."""


@dataclass(frozen=True)
class BlockHeader:
    """The fixed header of an H-compressed stream.

    Attributes
    ----------
    rows, cols
        Block shape in numpy order (the stream's ``nx`` and ``ny``).
    scale
        Quantisation step of the lossy compression (0 or 1: lossless).
    sumall
        The H-transform's DC coefficient (the scaled sum of all pixels).
    """

    rows: int
    cols: int
    scale: int
    sumall: int


def disc_header(stream: bytes) -> BlockHeader:
    """The header of a disc-format stream (4-byte sumall).

    Raises
    ------
    BlockError
        The stream is shorter than its header, lacks the magic bytes, or has a shape no DSS
        block can have.
    """
    if len(stream) < DISC_HEADER_BYTES:
        raise BlockError(f"only {len(stream)} bytes, shorter than the 21-byte block header")
    if stream[:2] != MAGIC:
        raise BlockError(f"starts with {stream[:2].hex(' ')}, not the H-compress magic dd 99")
    rows, cols, scale, sumall = struct.unpack(">iiii", stream[2:18])
    if not (1 <= rows <= BLOCK_SIZE and 1 <= cols <= BLOCK_SIZE) or scale < 0:
        raise BlockError(f"impossible block header: {rows}x{cols} pixels, scale {scale}")
    return BlockHeader(rows, cols, scale, sumall)


def widen(stream: bytes) -> bytes:
    """A disc-format stream as a FITS ``HCOMPRESS_1`` tile: sumall sign-extended to 8 bytes."""
    header = disc_header(stream)
    wide = struct.pack(">q", header.sumall)
    return stream[:_SUMALL_OFFSET] + wide + stream[_SUMALL_OFFSET + 4 :]


def narrow(tile: bytes) -> bytes:
    """A FITS ``HCOMPRESS_1`` tile in the disc format: sumall cut to 4 bytes.

    Raises
    ------
    BlockError
        The tile is not an H-compressed stream or its sumall does not fit in 4 bytes (a block
        of 500x500 16-bit pixels always fits).
    """
    if len(tile) < FITS_HEADER_BYTES or tile[:2] != MAGIC:
        raise BlockError("not a FITS HCOMPRESS_1 tile")
    (sumall,) = struct.unpack(">q", tile[_SUMALL_OFFSET : _SUMALL_OFFSET + 8])
    if not -(2**31) <= sumall < 2**31:
        raise BlockError(f"sumall {sumall} does not fit in the 4-byte disc field")
    return tile[:_SUMALL_OFFSET] + struct.pack(">i", sumall) + tile[_SUMALL_OFFSET + 8 :]


def decode_tile(tile: bytes, rows: int, cols: int) -> npt.NDArray[np.int16]:
    """Decode a FITS-form tile of ``rows`` x ``cols`` pixels as CFITSIO does, no smoothing.

    Raises
    ------
    BlockError
        CFITSIO cannot decode the stream, or its pixels do not fit in 16 bits.
    """
    # As astropy's FITS reader calls it (bytepix 8 for every HCOMPRESS_1 image); the decoder
    # reads scale from the stream, so the codec's own scale is not used.
    codec = HCompress1(scale=0, smooth=False, bytepix=8, nx=rows, ny=cols)
    try:
        values = codec.decode(np.frombuffer(tile, dtype=np.uint8))
    except Exception as exc:  # CFITSIO's errors come back as several exception types
        raise BlockError(f"does not decode ({exc})") from None
    if values.size != rows * cols:
        raise BlockError(f"decodes to {values.size} pixels, not {rows}x{cols}")
    if values.size and (values.min() < -32768 or values.max() > 32767):
        raise BlockError("decodes to values outside 16 bits")
    return values.reshape(rows, cols).astype(np.int16)


def decode_block(stream: bytes, *, check_end: bool = False) -> npt.NDArray[np.int16]:
    """Decode a disc-format block to its ``(rows, cols)`` int16 pixels.

    Parameters
    ----------
    check_end
        Also make sure the decoder stays within the stream. CFITSIO's decoder is not told the
        stream's length, so a truncated block could make it read past the end (whatever
        follows in memory) and still "succeed". With ``check_end`` the block is decoded
        twice, followed by zero bytes and by 0xFF bytes: a complete stream gives the same
        pixels both times, a truncated one does not. The import checks every block so.

    Raises
    ------
    BlockError
        The stream is not a readable block.
    """
    header = disc_header(stream)
    tile = widen(stream)
    if not check_end:
        return decode_tile(tile, header.rows, header.cols)
    margin = _TAIL_MARGIN
    zeros = decode_tile(tile + bytes(margin), header.rows, header.cols)
    ones = decode_tile(tile + b"\xff" * margin, header.rows, header.cols)
    if not np.array_equal(zeros, ones):
        raise BlockError("is truncated (the decoder reads past its end)")
    return zeros


def encode_block(pixels: npt.NDArray[np.integer], *, scale: int) -> bytes:
    """H-compress ``pixels`` (at most 500x500) into a disc-format block.

    For tests and benchmarks, which build their own media: astropy's encoder, narrowed.
    ``scale`` 0 is lossless; the DSS1 discs used about 10x compression, RealSky about 100x.
    """
    array = np.ascontiguousarray(pixels, dtype=np.int64)
    rows, cols = array.shape
    codec = HCompress1(scale=scale, smooth=False, bytepix=8, nx=rows, ny=cols)
    return narrow(bytes(codec.encode(array)))
