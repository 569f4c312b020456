"""Reading a box straight from a plate directory of the DSS media.

:class:`MediaPlateReader` is the second implementation of
:class:`extraction.core.platestore.PlateSource`: it decodes only the blocks a box touches,
from the disc (or a copy), every time. The portal itself serves plates from the store
(imported with ``import_plates --media``, which keeps the blocks as tiles); this reader is
the reference the tests compare the store against and the floor the benchmark measures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from extraction.core.media.blocks import BLOCK_SIZE, BlockError, decode_block
from extraction.core.media.layout import PlateDirectory, block_suffix
from extraction.core.platestore import BLANK_DEFAULT, BoxRead, read_box_within


class MediaBlockError(BlockError):
    """A block of a plate directory is missing, unreadable or does not decode.

    Attributes
    ----------
    block
        The block's name, ``<region>.<R><C>``.
    path
        Its file, when there is one.
    """

    def __init__(self, block: str, path: Path | None, reason: str) -> None:
        where = f" ({path})" if path is not None else ""
        super().__init__(f"block {block}{where}: {reason}")
        self.block = block
        self.path = path


def block_rows_cols(shape: tuple[int, int], row: int, col: int) -> tuple[int, int]:
    """Shape of block (row, col) of a plate of ``shape``: 500x500, less at the far edges."""
    return (
        min(BLOCK_SIZE, shape[0] - row * BLOCK_SIZE),
        min(BLOCK_SIZE, shape[1] - col * BLOCK_SIZE),
    )


def read_block_stream(plate: PlateDirectory, row: int, col: int) -> bytes:
    """The raw bytes of block (row, col).

    Raises
    ------
    MediaBlockError
        The block is not on the media or cannot be read.
    """
    name = f"{plate.region}.{block_suffix(row, col)}"
    path = plate.blocks.get((row, col))
    if path is None:
        raise MediaBlockError(name, None, f"not found in {plate.directory}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MediaBlockError(name, path, f"cannot be read ({exc.strerror})") from None


def decode_plate_block(
    plate: PlateDirectory, row: int, col: int, shape: tuple[int, int]
) -> npt.NDArray[np.int16]:
    """Decode block (row, col) of a plate of ``shape`` and check its size.

    Raises
    ------
    MediaBlockError
        Missing, unreadable, not decodable, or not the size its place on the plate needs.
    """
    return decode_checked(plate, row, col, shape, read_block_stream(plate, row, col))


def decode_checked(
    plate: PlateDirectory,
    row: int,
    col: int,
    shape: tuple[int, int],
    stream: bytes,
    *,
    check_end: bool = False,
) -> npt.NDArray[np.int16]:
    """Decode ``stream``, block (row, col) of a plate of ``shape``, and check its size.

    ``check_end``: see :func:`extraction.core.media.blocks.decode_block`.

    Raises
    ------
    MediaBlockError
        Not decodable, or not the size its place on the plate needs.
    """
    name = f"{plate.region}.{block_suffix(row, col)}"
    path = plate.blocks.get((row, col))
    try:
        pixels = decode_block(stream, check_end=check_end)
    except BlockError as exc:
        raise MediaBlockError(name, path, str(exc)) from None
    expected = block_rows_cols(shape, row, col)
    if pixels.shape != expected:
        raise MediaBlockError(
            name,
            path,
            f"holds {pixels.shape[0]}x{pixels.shape[1]} pixels where the plate header "
            f"(NAXIS1 {shape[1]}, NAXIS2 {shape[0]}) needs {expected[0]}x{expected[1]}",
        )
    return pixels


class MediaPlateReader:
    """A plate read directly from its directory of blocks (see the module docstring).

    Parameters
    ----------
    plate
        The plate's blocks.
    header
        Its ``.hhh`` header; NAXIS1/NAXIS2 give the plate's size.
    """

    def __init__(self, plate: PlateDirectory, header: fits.Header) -> None:
        self.plate = plate
        self.header = header
        self.shape: tuple[int, int] = (int(header["NAXIS2"]), int(header["NAXIS1"]))
        self.fill = int(header.get("BLANK", BLANK_DEFAULT))

    def read_box(self, x0: int, x1: int, y0: int, y1: int) -> BoxRead:
        """Columns ``x0 <= x < x1``, rows ``y0 <= y < y1``; decodes only the touched blocks.

        Raises
        ------
        MediaBlockError
            A touched block is missing or does not decode.
        """
        return read_box_within(self.shape, self.fill, (x0, x1, y0, y1), self._read_inside)

    def _read_inside(self, x0: int, x1: int, y0: int, y1: int) -> npt.NDArray[np.int16]:
        out = np.empty((y1 - y0, x1 - x0), dtype=np.int16)
        for row in range(y0 // BLOCK_SIZE, (y1 - 1) // BLOCK_SIZE + 1):
            for col in range(x0 // BLOCK_SIZE, (x1 - 1) // BLOCK_SIZE + 1):
                pixels = decode_plate_block(self.plate, row, col, self.shape)
                by, bx = row * BLOCK_SIZE, col * BLOCK_SIZE
                ys = slice(max(y0, by), min(y1, by + pixels.shape[0]))
                xs = slice(max(x0, bx), min(x1, bx + pixels.shape[1]))
                out[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = pixels[
                    ys.start - by : ys.stop - by, xs.start - bx : xs.stop - bx
                ]
        return out

    def close(self) -> None:
        """Nothing is held open between reads."""
