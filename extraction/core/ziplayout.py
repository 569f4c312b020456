"""A zip archive of files, laid out before a byte of it is sent: its size, and any range.

Every member is stored (``ZIP_STORED``): the staged files are FITS, already compressed when
the user asked (G/B/X), and 16-bit noisy pixels barely deflate (DESIGN.md "Cut-outs"). With
stored members each header's place and the archive's length follow from the names and
sizes alone, so a download has a ``Content-Length`` and can resume from any byte (HTTP
Range); the CRC-32 of each file is needed for its header and is computed once per file
version (:class:`CrcCache`). The same files (names, sizes, times, bytes) always give the
same archive, byte for byte, whichever range is asked, by Python or from a copy on disk.

Entry dates are the files' modification times: the DOS date and time fields in local time
(as ``zipfile`` and Info-ZIP read them) and the exact UTC time in an "extended timestamp"
extra field (0x5455), which ``unzip`` restores. Members and offsets beyond 4 GiB use Zip64.
No Django here.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["CrcCache", "ZipLayout", "ZipMember", "zip_layout"]

#: Sizes and offsets from this value on are written as Zip64 (the 32-bit fields hold 0xFFFFFFFF).
ZIP64_LIMIT: Final = 0xFFFFFFFF
_READ_BYTES: Final = 256 * 1024
_UTF8_NAMES: Final = 0x0800
_VERSION_MADE_BY: Final = (3 << 8) | 45  # Unix, spec 4.5 (Zip64)
_REGULAR_FILE_0644: Final = 0o100644 << 16


@dataclass(frozen=True)
class ZipMember:
    """One file as it goes into the archive: its name there, where it is, what it holds."""

    name: str
    path: Path
    size: int
    mtime: float
    crc: int


@dataclass(frozen=True)
class _Piece:
    """``length`` bytes of the archive from ``start``: fixed bytes, or a span of a file."""

    start: int
    length: int
    data: bytes | None = None
    path: Path | None = None


@dataclass(frozen=True)
class ZipLayout:
    """The archive as a list of pieces; :meth:`read` yields any byte range of it."""

    pieces: tuple[_Piece, ...]
    size: int

    def read(self, first: int, length: int) -> Iterator[bytes]:
        """``length`` bytes from offset ``first`` (fewer only if a file shrank meanwhile)."""
        end = min(first + length, self.size)
        for piece in self.pieces:
            lo, hi = max(first, piece.start), min(end, piece.start + piece.length)
            if lo >= hi:
                continue
            if piece.data is not None:
                yield piece.data[lo - piece.start : hi - piece.start]
            else:
                assert piece.path is not None
                yield from _file_span(piece.path, lo - piece.start, hi - lo)


def _file_span(path: Path, offset: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(offset)
        while length > 0:
            chunk = handle.read(min(_READ_BYTES, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def _dos_time(mtime: float) -> tuple[int, int]:
    """(time, date) DOS fields of ``mtime`` in local time, as ``zipfile`` writes them."""
    t = time.localtime(max(mtime, 315532800))  # the format starts in 1980
    year = min(max(t.tm_year, 1980), 2107)
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), (
        ((year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    )


def _timestamp_extra(mtime: float) -> bytes:
    """Extended timestamp (0x5455): flags "mtime present", then the UTC seconds (the same
    in local and central headers)."""
    body = struct.pack("<BI", 1, min(max(int(mtime), 0), 0xFFFFFFFF))
    return struct.pack("<HH", 0x5455, len(body)) + body


def _zip64_extra(values: Sequence[int]) -> bytes:
    if not values:
        return b""
    return struct.pack("<HH", 0x0001, 8 * len(values)) + struct.pack(f"<{len(values)}Q", *values)


def _local_header(member: ZipMember, name: bytes, flags: int, limit: int) -> bytes:
    big = member.size >= limit
    extra = _zip64_extra([member.size, member.size] if big else [])
    extra += _timestamp_extra(member.mtime)
    dos_time, dos_date = _dos_time(member.mtime)
    size32 = 0xFFFFFFFF if big else member.size
    return (
        struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            45 if big else 20,
            flags,
            0,  # stored
            dos_time,
            dos_date,
            member.crc,
            size32,
            size32,
            len(name),
            len(extra),
        )
        + name
        + extra
    )


def _central_header(member: ZipMember, name: bytes, flags: int, offset: int, limit: int) -> bytes:
    big_size, big_offset = member.size >= limit, offset >= limit
    values = [member.size, member.size] if big_size else []
    values += [offset] if big_offset else []
    extra = _zip64_extra(values) + _timestamp_extra(member.mtime)
    dos_time, dos_date = _dos_time(member.mtime)
    size32 = 0xFFFFFFFF if big_size else member.size
    return (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            _VERSION_MADE_BY,
            45 if values else 20,
            flags,
            0,
            dos_time,
            dos_date,
            member.crc,
            size32,
            size32,
            len(name),
            len(extra),
            0,  # comment
            0,  # disk
            0,  # internal attributes
            _REGULAR_FILE_0644,
            0xFFFFFFFF if big_offset else offset,
        )
        + name
        + extra
    )


def _end_records(count: int, cd_offset: int, cd_size: int, limit: int) -> bytes:
    zip64 = count >= 0xFFFF or cd_offset >= limit or cd_size >= limit
    records = b""
    if zip64:
        end64_offset = cd_offset + cd_size
        records += struct.pack(
            "<4sQHHIIQQQQ", b"PK\x06\x06", 44, _VERSION_MADE_BY, 45, 0, 0, count, count,
            cd_size, cd_offset,
        )  # fmt: skip
        records += struct.pack("<4sIQI", b"PK\x06\x07", 0, end64_offset, 1)
    records += struct.pack(
        "<4sHHHHIIH",
        b"PK\x05\x06",
        0,
        0,
        min(count, 0xFFFF),
        min(count, 0xFFFF),
        0xFFFFFFFF if zip64 else cd_size,
        0xFFFFFFFF if zip64 else cd_offset,
        0,
    )
    return records


def zip_layout(members: Sequence[ZipMember], *, zip64_limit: int = ZIP64_LIMIT) -> ZipLayout:
    """The archive of ``members`` in their order (``zip64_limit`` is lowered only by tests)."""
    pieces: list[_Piece] = []
    central: list[bytes] = []
    offset = 0
    for member in members:
        name = member.name.encode("utf-8")
        flags = 0 if member.name.isascii() else _UTF8_NAMES
        header = _local_header(member, name, flags, zip64_limit)
        central.append(_central_header(member, name, flags, offset, zip64_limit))
        pieces.append(_Piece(offset, len(header), data=header))
        offset += len(header)
        pieces.append(_Piece(offset, member.size, path=member.path))
        offset += member.size
    directory = b"".join(central)
    tail = directory + _end_records(len(members), offset, len(directory), zip64_limit)
    pieces.append(_Piece(offset, len(tail), data=tail))
    return ZipLayout(tuple(pieces), offset + len(tail))


class CrcCache:
    """CRC-32 of files, computed once per file version (path, inode, size, mtime).

    Staged files are replaced by rename, never rewritten in place, so a new version has a
    new inode or time. Bounded: the least recently used entries are forgotten.
    """

    def __init__(self, entries: int = 4096) -> None:
        self._entries = entries
        self._known: OrderedDict[tuple[str, int, int, int], int] = OrderedDict()
        self._lock = threading.Lock()

    def stat_and_crc(self, path: Path) -> tuple[os.stat_result, int]:
        """The file's status and CRC-32, both of the version opened now."""
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            key = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
            with self._lock:
                if key in self._known:
                    self._known.move_to_end(key)
                    return info, self._known[key]
            value = 0
            while chunk := handle.read(_READ_BYTES):
                value = zlib.crc32(chunk, value)
        with self._lock:
            self._known[key] = value
            while len(self._known) > self._entries:
                self._known.popitem(last=False)
        return info, value
