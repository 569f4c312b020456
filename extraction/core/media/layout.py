"""Finding plates on the DSS media: plate directories, ``.hhh`` headers and plate lists.

An operator names mounted discs (or copies of them), headers directories and plate-list
files; :func:`scan_media` walks them and collects, by region (compared case-insensitively):

* blocks ``<region>.<R><C>``, one character each for block row R and block column C from
  ``0123456789abcdefghijklmnopqr`` (block row R holds plate rows ``500 R .. 500 R + 499``,
  numpy axis 0 / FITS axis 2; block column C the columns ``500 C ..``);
* plate headers ``<region>.hhh``;
* plate lists ``*.lis``.

Names are matched case-insensitively and an ISO 9660 version suffix (``;1``) is ignored,
because discs are often mounted showing ``XE355.0A;1``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from extraction.core.media.blocks import BLOCK_SIZE

#: Block row / column characters, in order.
BLOCK_DIGITS = "0123456789abcdefghijklmnopqr"
_BLOCK_NAME = re.compile(rf"^([a-z]{{0,2}}\d{{1,4}})\.([{BLOCK_DIGITS}])([{BLOCK_DIGITS}])$")


def media_name(name: str) -> str:
    """A file name as the media tools compare it: lower case, without a ``;1`` suffix."""
    return name.split(";", 1)[0].lower()


def block_suffix(row: int, col: int) -> str:
    """The two characters naming block (row, col), e.g. ``(0, 10)`` -> ``"0a"``."""
    return BLOCK_DIGITS[row] + BLOCK_DIGITS[col]


def block_grid(rows: int, cols: int) -> tuple[int, int]:
    """Number of block rows and block columns covering a plate of ``rows`` x ``cols`` px."""
    return math.ceil(rows / BLOCK_SIZE), math.ceil(cols / BLOCK_SIZE)


@dataclass
class PlateDirectory:
    """The blocks of one plate found on the media.

    Attributes
    ----------
    region
        Region id, lower case.
    directory
        Where the blocks are.
    blocks
        ``(block row, block column) -> file``.
    """

    region: str
    directory: Path
    blocks: dict[tuple[int, int], Path] = field(default_factory=dict)

    def missing(self, rows: int, cols: int) -> list[str]:
        """Names (``<region>.<R><C>``) of the blocks a ``rows`` x ``cols`` plate lacks here."""
        n_rows, n_cols = block_grid(rows, cols)
        return [
            f"{self.region}.{block_suffix(r, c)}"
            for r in range(n_rows)
            for c in range(n_cols)
            if (r, c) not in self.blocks
        ]


@dataclass
class MediaScan:
    """What :func:`scan_media` found.

    Attributes
    ----------
    plates
        Region (lower case) -> its blocks in the first directory found.
    headers
        Region (lower case) -> the first ``.hhh`` file found.
    plate_copies, header_copies
        Every copy found of a region's blocks and of its header, in the order found (a
        plate may be on two discs, or copied twice): the import chooses among them.
    lists
        Plate-list files.
    unknown
        Paths given that are neither a directory, a header nor a plate list.
    """

    plates: dict[str, PlateDirectory] = field(default_factory=dict)
    headers: dict[str, Path] = field(default_factory=dict)
    plate_copies: dict[str, list[PlateDirectory]] = field(default_factory=dict)
    header_copies: dict[str, list[Path]] = field(default_factory=dict)
    lists: list[Path] = field(default_factory=list)
    unknown: list[Path] = field(default_factory=list)


def scan_media(paths: list[Path]) -> MediaScan:
    """Walk the given discs, directories and files and collect blocks, headers and lists.

    Paths that do not exist or are regular files of another kind go to ``unknown``.
    Directories are walked recursively, in sorted order, following no symbolic links.
    """
    scan = MediaScan()
    for path in paths:
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                _collect(scan, Path(dirpath), sorted(filenames))
        elif path.is_file() and _kind(media_name(path.name)) in ("header", "list"):
            _collect(scan, path.parent, [path.name])
        else:
            scan.unknown.append(path)
    return scan


def _kind(name: str) -> str:
    if name.endswith(".hhh"):
        return "header"
    if name.endswith(".lis"):
        return "list"
    if _BLOCK_NAME.match(name):
        return "block"
    return ""


def _collect(scan: MediaScan, directory: Path, filenames: list[str]) -> None:
    found: dict[str, PlateDirectory] = {}
    for filename in filenames:
        name = media_name(filename)
        kind = _kind(name)
        if kind == "header":
            region = name[: -len(".hhh")]
            scan.headers.setdefault(region, directory / filename)
            scan.header_copies.setdefault(region, []).append(directory / filename)
        elif kind == "list":
            scan.lists.append(directory / filename)
        elif kind == "block":
            match = _BLOCK_NAME.match(name)
            assert match is not None
            region = match[1]
            row, col = BLOCK_DIGITS.index(match[2]), BLOCK_DIGITS.index(match[3])
            plate = found.setdefault(region, PlateDirectory(region, directory))
            plate.blocks.setdefault((row, col), directory / filename)
    for region, plate in found.items():
        scan.plates.setdefault(region, plate)
        scan.plate_copies.setdefault(region, []).append(plate)
