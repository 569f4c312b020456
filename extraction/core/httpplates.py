"""Plates read over HTTP: the plates folder served read-only (nginx), read by range requests.

Pure standard library + astropy; no Django.

A plate is read at ``<base URL>/<key>``. Opening it fetches the file's first bytes: the
primary header, the header of the tile-compressed image HDU and its binary table (one row per
500x500-pixel tile, giving each tile's place in the heap), kept for the life of the process.
A box then fetches only the heap bytes of the tiles it touches, one range request per run of
adjacent tiles, and astropy decompresses them exactly as it does a local file
(``CompImageHDU.section`` on a file object that serves the fetched bytes). Reading a local
copy of the plate and reading it here give the same header and pixels.

Every range request after the first carries ``If-Match`` with the ETag the plate was opened
with: a plate re-imported meanwhile (a new file, so a new ETag) answers 412, the reader marks
itself stale and raises :class:`~extraction.core.platestore.PlateChanged`, and the store opens
the new version on the next :meth:`HttpPlateStore.open`. A box is thus read from one version
only, never a mix.

Connection failures, timeouts and 5xx answers are retried with backoff; what still fails
raises :class:`PlateServerError`, naming the server.
"""

from __future__ import annotations

import http.client
import io
import re
import threading
import time
import urllib.parse
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from extraction.core.plates import PlateGeometry
from extraction.core.platestore import (
    BLANK_DEFAULT,
    BoxRead,
    OpenPlate,
    PlateCache,
    PlateChanged,
    PlateStoreError,
    check_raw_int16,
    checked_plate_key,
    first_image_hdu,
    read_box_within,
)

#: Bytes fetched when a plate is opened: the headers (a DSS plate header is 10-15 blocks of
#: 2880 bytes) and, for most plates, the tile table; what is missing is fetched after.
OPENING_BYTES = 16 * 2880


class PlateServerError(PlateStoreError):
    """The plate server cannot be reached, or does not serve the plate as it should.

    A field that meets it fails (staff retry it once the server is back); ``server`` is the
    base URL.
    """

    def __init__(self, server: str, problem: str) -> None:
        super().__init__(f"the plate server {server} {problem}")
        self.server = server
        self.problem = problem


@dataclass(frozen=True)
class Version:
    """Which file the server holds under a key: a re-imported plate changes all of them."""

    etag: str
    last_modified: str
    size: int


@dataclass
class FetchCounter:
    """Range requests made and body bytes received (for tests and the bench)."""

    requests: int = 0
    bytes: int = 0


#: A response body: a bytearray when large (read in place, never copied).
Body = bytes | bytearray

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_RETRIED_STATUSES = frozenset({500, 502, 503, 504})


class RangeClient:
    """Range requests to one plate server, one keep-alive connection per thread.

    Parameters
    ----------
    base_url
        ``http://`` or ``https://`` URL of the plates folder.
    attempts
        Tries per request before :class:`PlateServerError`.
    backoff_s
        Pause before the second try; doubled before each further one.
    timeout_s
        Socket timeout of each try.
    """

    def __init__(
        self, base_url: str, *, attempts: int = 3, backoff_s: float = 0.25, timeout_s: float = 10
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PlateStoreError(f"DSSPORTAL_PLATES_URL must be an http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._path = parts.path.rstrip("/")
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.counter = FetchCounter()
        self._local = threading.local()
        self._count_lock = threading.Lock()

    def fetch(
        self, key: str, start: int, stop: int, *, version: Version | None = None
    ) -> tuple[Body, Version]:
        """Bytes ``start <= i < stop`` of plate ``key`` (fewer at the end of the file) and the
        file's version. With ``version``, a different file raises :class:`PlateChanged`."""
        headers = {"Range": f"bytes={start}-{stop - 1}"}
        if version is not None and version.etag:
            headers["If-Match"] = version.etag
        elif version is not None and version.last_modified:
            headers["If-Unmodified-Since"] = version.last_modified
        status, answer, body = self._request("GET", key, headers)
        if status == 412 or (status == 416 and version is not None):
            raise PlateChanged(f"plate {key} changed on the plate server while being read")
        if status == 404:
            raise PlateServerError(self.base_url, f"has no plate {key} (404)")
        if status != 206:
            raise PlateServerError(
                self.base_url, f"answered {status} to a range request for plate {key}"
            )
        found = _CONTENT_RANGE.fullmatch(answer.get("content-range", ""))
        if found is None or int(found[1]) != start or len(body) != int(found[2]) - start + 1:
            raise PlateServerError(self.base_url, f"sent a wrong range of plate {key}")
        got = Version(answer.get("etag", ""), answer.get("last-modified", ""), int(found[3]))
        if version is not None and got != version:
            raise PlateChanged(f"plate {key} changed on the plate server while being read")
        return body, got

    def exists(self, key: str) -> bool:
        """The server has plate ``key`` (HEAD answers 200)."""
        status, _answer, _body = self._request("HEAD", key, {})
        if status in (404, 410):
            return False
        if status != 200:
            raise PlateServerError(self.base_url, f"answered {status} to HEAD of plate {key}")
        return True

    def _request(
        self, method: str, key: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Body]:
        target = f"{self._path}/{urllib.parse.quote(checked_plate_key(key))}"
        problem = ""
        for attempt in range(self.attempts):
            connection, reused = self._connection()
            try:
                connection.request(method, target, headers=headers)
                response = connection.getresponse()
                # A body we do not want (the whole plate when ranges are ignored) is not read.
                wanted = method == "HEAD" or response.status in (206, 412, 416, 404)
                body = _read_body(response) if wanted else b""
                if not wanted or response.will_close:
                    self._drop_connection()
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                problem = f"cannot be reached ({type(exc).__name__}: {exc})"
                if reused and attempt == 0:
                    continue  # the server closed an idle kept-alive connection: retry at once
            else:
                if response.status not in _RETRIED_STATUSES:
                    self._count(len(body))
                    answer = {name.lower(): value for name, value in response.getheaders()}
                    return response.status, answer, body
                problem = f"answered {response.status}"
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff_s * 2**attempt)
        raise PlateServerError(self.base_url, f"{problem} (plate {key}, {self.attempts} tries)")

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        held = getattr(self._local, "held", None)
        if held is not None:
            return held.connection, True
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = kind(self._netloc, timeout=self.timeout_s)
        held = _HeldConnection(connection)
        # A thread's locals go when it ends: close its connection then, rather than leave
        # the socket to the garbage collector (a request thread of a web server, say).
        weakref.finalize(held, connection.close)
        self._local.held = held
        return connection, False

    def _drop_connection(self) -> None:
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None:
            held.connection.close()

    def _count(self, size: int) -> None:
        with self._count_lock:
            self.counter.requests += 1
            self.counter.bytes += size


class _HeldConnection:
    """One thread's kept-alive connection (its lifetime is the thread's)."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self.connection = connection


def _read_body(response: http.client.HTTPResponse) -> Body:
    """The whole body: into one buffer of the announced length (twice as fast as read())."""
    if response.length is None:
        return response.read()
    body = bytearray(response.length)
    view, got = memoryview(body), 0
    while got < len(body):
        count = response.readinto(view[got:])
        if not count:
            raise http.client.IncompleteRead(bytes(body[:got]), len(body) - got)
        got += count
    return body  # bytearray: no copy of a megabyte body; read as bytes everywhere


class _RemoteFile(io.RawIOBase):
    """A read-only file object over a remote plate: serves the bytes held, fetches the rest.

    astropy reads the plate through it as it reads a local file; the reader holds the headers
    and tile table for good and a box's tiles while the box is read.
    """

    def __init__(self, size: int, fetch: Callable[[int, int], Body]) -> None:
        super().__init__()
        self._size = size
        self._fetch = fetch
        self._pos = 0
        self._held: list[tuple[int, Body]] = []  # (start, bytes), sorted, not overlapping
        self.resident = 0  # the first bytes of _held stay held (headers and table)

    def hold(self, chunks: Iterable[tuple[int, Body]]) -> None:
        """Keep these fetched chunks until :meth:`release`."""
        self._held = sorted([*self._held, *chunks])

    def release(self) -> None:
        """Forget every chunk but the resident ones."""
        self._held = self._held[: self.resident]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        stop = min(self._size, self._pos + len(buffer))
        if stop <= self._pos:
            return 0
        out = memoryview(buffer).cast("B")
        written = 0
        for part in self._parts(self._pos, stop):
            out[written : written + len(part)] = part
            written += len(part)
        self._pos += written
        return written

    def get(self, start: int, stop: int) -> bytes:
        """Bytes ``start:stop`` from the chunks held, fetching what they lack."""
        return b"".join(self._parts(start, stop))

    def _parts(self, start: int, stop: int) -> Iterator[Body | memoryview]:
        at = start
        for chunk_start, chunk in self._held:
            chunk_stop = chunk_start + len(chunk)
            if chunk_stop <= at or chunk_start >= stop:
                continue
            if chunk_start > at:
                yield self._fetch(at, chunk_start)
            yield memoryview(chunk)[at - chunk_start : min(stop, chunk_stop) - chunk_start]
            at = min(stop, chunk_stop)
            if at >= stop:
                return
        if at < stop:
            yield self._fetch(at, stop)


@dataclass(frozen=True)
class _Column:
    offset: int  # in the row, bytes
    descriptor: str  # "P" (two int32) or "Q" (two int64): an array in the heap; "" fixed
    element_bytes: int


_TFORM = re.compile(r"(\d*)([PQ]?)([LXBIJKAEDCM])")
_ELEMENT_BYTES = {"L": 1, "X": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8}
_ELEMENT_BYTES |= {"C": 8, "M": 16}


class TileTable:
    """Where each tile of a tile-compressed HDU lies in the file (from its binary table)."""

    def __init__(self, table_header: fits.Header, data_start: int, table: bytes) -> None:
        self.row_bytes = int(table_header["NAXIS1"])
        self.rows = int(table_header["NAXIS2"])
        self.heap_start = data_start + int(table_header.get("THEAP", self.row_bytes * self.rows))
        self.tile = (int(table_header["ZTILE2"]), int(table_header["ZTILE1"]))  # numpy order
        self.shape = (int(table_header["ZNAXIS2"]), int(table_header["ZNAXIS1"]))
        self.tiles_x = -(-self.shape[1] // self.tile[1])
        self._columns = _columns(table_header)
        self._table = table

    def tile_ranges(self, x0: int, x1: int, y0: int, y1: int) -> list[tuple[int, int]]:
        """File byte ranges ``(start, stop)`` of the heap arrays of the tiles that box
        ``x0 <= x < x1, y0 <= y < y1`` (on the image) touches."""
        ranges = []
        for ty in range(y0 // self.tile[0], (y1 - 1) // self.tile[0] + 1):
            for tx in range(x0 // self.tile[1], (x1 - 1) // self.tile[1] + 1):
                ranges += self._row_ranges(ty * self.tiles_x + tx)
        return ranges

    def _row_ranges(self, row: int) -> list[tuple[int, int]]:
        ranges = []
        for column in self._columns:
            at = row * self.row_bytes + column.offset
            kind = ">i4" if column.descriptor == "P" else ">i8"
            count, offset = np.frombuffer(self._table, dtype=kind, count=2, offset=at)
            if count > 0:
                start = self.heap_start + int(offset)
                ranges.append((start, start + int(count) * column.element_bytes))
        return ranges


def _columns(table_header: fits.Header) -> list[_Column]:
    columns, offset = [], 0
    for index in range(1, int(table_header["TFIELDS"]) + 1):
        form = str(table_header[f"TFORM{index}"]).strip().upper()
        found = _TFORM.match(form)
        if found is None:
            raise PlateStoreError(f"unknown column format TFORM{index} = {form!r}")
        repeat = int(found[1] or 1)
        descriptor, code = found[2], found[3]
        if descriptor:
            columns.append(_Column(offset, descriptor, _ELEMENT_BYTES[code]))
            offset += 8 if descriptor == "P" else 16
        else:
            offset += -(-repeat // 8) if code == "X" else repeat * _ELEMENT_BYTES[code]
    return [column for column in columns if column.descriptor]


def coalesce(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted byte ranges, those that touch or overlap merged."""
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
        else:
            merged.append((start, stop))
    return merged


class HttpPlateReader:
    """A plate on a plate server serving boxes of pixels (a ``PlateSource``).

    Reads are serialised by a lock, as those of a local ``PlateReader``.
    """

    def __init__(self, client: RangeClient, key: str) -> None:
        self.key = key
        self._client = client
        self.stale = False
        first, self.version = client.fetch(key, 0, OPENING_BYTES)
        self._file = _RemoteFile(self.version.size, self._fetch)
        self._file.hold([(0, first)])
        self._file.resident = 1
        with warnings.catch_warnings():
            # The file object is read lazily; astropy need not see the whole file.
            warnings.simplefilter("ignore", AstropyUserWarning)
            try:
                self._hdul = fits.open(
                    self._file, memmap=False, do_not_scale_image_data=True, lazy_load_hdus=True
                )
                hdu = first_image_hdu(self._hdul)
            except (OSError, ValueError) as exc:
                raise PlateServerError(
                    client.base_url, f"serves plate {key} as no FITS file ({exc})"
                ) from None
        if not isinstance(hdu, fits.CompImageHDU):
            raise PlateStoreError(
                f"plate {key}: only tile-compressed plates (as the store writes them) are read "
                "over HTTP"
            )
        self._hdu = hdu
        self.header: fits.Header = hdu.header
        check_raw_int16(self.header, f"plate {key}")
        self.shape: tuple[int, int] = (int(self.header["NAXIS2"]), int(self.header["NAXIS1"]))
        self.fill = int(self.header.get("BLANK", BLANK_DEFAULT))
        self.tiles = self._tile_table(self._hdul.index(hdu))
        self._lock = threading.Lock()

    def _tile_table(self, index: int) -> TileTable:
        info = self._hdul.fileinfo(index)
        assert info is not None
        header_start, data_start = int(info["hdrLoc"]), int(info["datLoc"])
        table_header = fits.Header.fromstring(
            self._file.get(header_start, data_start).decode("ascii")
        )
        table_bytes = int(table_header["NAXIS1"]) * int(table_header["NAXIS2"])
        head = self._file.get(0, data_start + table_bytes)  # the rest of the table if missing
        self._file.release()
        self._file.hold([(0, head)])
        return TileTable(table_header, data_start, head[data_start:])

    def _fetch(self, start: int, stop: int) -> Body:
        try:
            body, _version = self._client.fetch(self.key, start, stop, version=self.version)
        except PlateChanged:
            self.stale = True
            raise
        return body

    def close(self) -> None:
        with self._lock:
            self._hdul.close()

    def read_box(self, x0: int, x1: int, y0: int, y1: int) -> BoxRead:
        """As ``PlateReader.read_box``: only the tiles the box touches are fetched."""
        return read_box_within(self.shape, self.fill, (x0, x1, y0, y1), self._read_inside)

    def _read_inside(self, x0: int, x1: int, y0: int, y1: int) -> npt.NDArray[np.int16]:
        with self._lock:
            ranges = coalesce(self.tiles.tile_ranges(x0, x1, y0, y1))
            self._file.hold((start, self._fetch(start, stop)) for start, stop in ranges)
            try:
                return np.asarray(self._hdu.section[y0:y1, x0:x1])
            finally:
                self._file.release()


class HttpPlateStore:
    """Plates read from ``<base_url>/<key>`` (a ``PlateStore``).

    Opened plates are kept per process (least recently used dropped beyond ``maxsize``),
    each with the version it was opened at; a reader that met a newer version is replaced on
    the next :meth:`open`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        maxsize: int = 64,
        attempts: int = 3,
        backoff_s: float = 0.25,
        timeout_s: float = 10,
    ) -> None:
        self.client = RangeClient(
            base_url, attempts=attempts, backoff_s=backoff_s, timeout_s=timeout_s
        )
        self.location = self.client.base_url
        self.cache = PlateCache(maxsize)

    def open(self, key: str) -> OpenPlate:
        def opened() -> OpenPlate:
            reader = HttpPlateReader(self.client, key)
            version = (reader.version.etag, reader.version.last_modified, reader.version.size)
            return OpenPlate(reader, PlateGeometry(reader.header), (self.location, key, *version))

        def fresh(entry: OpenPlate) -> bool:
            return not getattr(entry.reader, "stale", False)

        return self.cache.get_or_open(checked_plate_key(key), fresh=fresh, opener=opened)

    def exists(self, key: str) -> bool:
        return self.client.exists(key)
