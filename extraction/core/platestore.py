"""The plate store: one tile-compressed FITS image per plate, read a box at a time.

Pure numpy/astropy; no Django.

A plate file is an empty primary HDU followed by a ``CompImageHDU`` (RICE_1 by default,
HCOMPRESS_1 accepted, 500x500-pixel tiles as on the original DSS media) holding the plate's
int16 pixels and its DSS header. Boxes are read through ``CompImageHDU.section``, which
decompresses only the tiles a box touches; a whole plate is never read. Plain FITS files
(``PrimaryHDU``/``ImageHDU``, optionally gzipped) are read the same way through
``ImageHDU.section``.

Pixel coordinates here are 0-based stored-image pixels: ``x`` along FITS axis 1 (numpy
column), ``y`` along FITS axis 2 (numpy row); boxes are half-open, ``array[y0:y1, x0:x1]``.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from extraction.core.files import held, stale_parts_remove, write_aside
from extraction.core.plates import PlateGeometry

#: Fill value for pixels off the image when the header has no BLANK (the DSS convention).
BLANK_DEFAULT = -32768
COMPRESSION_TYPES = ("RICE_1", "HCOMPRESS_1")

# Cards that describe the file layout rather than the plate; astropy writes its own.
_STRUCTURAL_KEYWORDS = frozenset(
    {"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "PCOUNT", "GCOUNT"}
    | {"BZERO", "BSCALE", "CHECKSUM", "DATASUM", "ZIMAGE", "ZBITPIX", "ZCMPTYPE"}
)


class PlateStoreError(Exception):
    """A plate file cannot be written or read as a plate."""


class PlateChanged(PlateStoreError):
    """The plate was replaced (re-imported) while it was being read: open it again."""


# -- Writing ----------------------------------------------------------------------------


def write_plate(
    path: str | os.PathLike[str],
    data: npt.NDArray[np.int16],
    header: fits.Header,
    *,
    compression: str = "RICE_1",
    tile: tuple[int, int] = (500, 500),
) -> Path:
    """Write a plate file atomically: empty primary HDU + tile-compressed image HDU.

    Parameters
    ----------
    path
        Destination; its directory must exist. The file is written under a temporary name in
        the same directory and renamed into place, so a half-written plate is never visible.
    data
        The plate pixels, numpy order ``[y, x]`` (rows along FITS axis 2), 16-bit signed.
        Stored losslessly: no BZERO/BSCALE and no quantisation (HCOMPRESS_1 with scale 0).
    header
        The plate header (DSS keywords, CNPIX1/2 ...). Layout cards (SIMPLE, NAXISn, BZERO,
        BSCALE, ...) are dropped; BLANK is kept.
    compression
        ``"RICE_1"`` or ``"HCOMPRESS_1"``.
    tile
        Tile shape in numpy order ``(rows, columns)``, pixels.

    Returns
    -------
    Path
        The final path.
    """
    path = Path(path)
    data = _checked_pixels(data)
    if compression not in COMPRESSION_TYPES:
        raise PlateStoreError(
            f"compression must be one of {COMPRESSION_TYPES}, got {compression!r}"
        )
    tile_shape = (min(tile[0], data.shape[0]), min(tile[1], data.shape[1]))
    if compression == "HCOMPRESS_1":
        _check_hcompress_tiles(data.shape, tile_shape)
    cards, commentary = _blank_cards_as_comments(plate_header_cards(header))
    image = fits.CompImageHDU(
        data=data,
        header=cards,
        compression_type=compression,
        tile_shape=tile_shape,
        hcomp_scale=0,
    )
    hdul = fits.HDUList([fits.PrimaryHDU(), image])
    # silentfix: non-standard but harmless DSS cards (e.g. SKEW) are fixed quietly.
    temp, _size = write_aside(path, lambda handle: hdul.writeto(handle, output_verify="silentfix"))
    try:
        with held(temp):
            if any(card.keyword == "" for card in commentary):
                _commentary_restored(temp, commentary)
            os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    stale_parts_remove(path)
    return path


def _blank_cards_as_comments(cards: fits.Header) -> tuple[fits.Header, list[fits.Card]]:
    """``cards`` with every blank-keyword card turned into a COMMENT of the same text, and
    the plate's commentary cards (COMMENT and blank) as they were, in order.

    astropy's ``CompImageHDU`` drops the text of blank-keyword cards (the acknowledgement and
    copyright lines of the UK Schmidt / ROE / AAO plates) but keeps COMMENT cards, and a
    COMMENT holds the same 72 characters: written as COMMENTs, one card each, they are put
    back afterwards (:func:`_commentary_restored`).
    """
    out = fits.Header()
    commentary: list[fits.Card] = []
    for card in cards.cards:
        if card.keyword in ("", "COMMENT"):
            commentary.append(fits.Card(card.keyword, card.value))
            out.append(fits.Card("COMMENT", card.value), end=True)
        else:
            out.append(card, end=True)
    return out, commentary


def _commentary_restored(path: Path, commentary: list[fits.Card]) -> None:
    """Put the plate's commentary cards back, as they were and in their order, in place of
    the COMMENT cards astropy wrote: one card for one card, so the header keeps its size and
    the (large) data is not rewritten."""
    with fits.open(path, mode="update", disable_image_compression=True) as hdul:
        table = hdul[1].header
        written = [card.value for card in table.cards if card.keyword == "COMMENT"]
        if sorted(written) != sorted(card.value for card in commentary):
            raise PlateStoreError(
                "the plate header's comment and blank cards did not come out as written; "
                "the plate was not stored"
            )
        table.remove("COMMENT", remove_all=True)
        for card in commentary:
            table.append(card, useblanks=False, bottom=True, end=True)


def _checked_pixels(data: npt.NDArray[Any]) -> npt.NDArray[np.int16]:
    array = np.asarray(data)
    if array.ndim != 2:
        raise PlateStoreError(f"a plate is a 2-D image, got {array.ndim} dimensions")
    if array.dtype.kind != "i" or array.dtype.itemsize != 2:
        raise PlateStoreError(f"plate pixels must be 16-bit signed integers, got {array.dtype}")
    return array.astype(np.int16, copy=False)


def _check_hcompress_tiles(shape: tuple[int, ...], tile_shape: tuple[int, int]) -> None:
    # HCOMPRESS works on tiles of at least 4x4 pixels, including the partial tiles at the edge.
    for axis, (size, step) in enumerate(zip(shape, tile_shape, strict=True)):
        last = size % step or step
        if last < 4:
            raise PlateStoreError(
                f"HCOMPRESS_1 needs tiles of at least 4 pixels: axis {axis} of length {size} "
                f"leaves a last tile of {last} with tiles of {step}; choose another tile size"
            )


def plate_header_cards(header: fits.Header) -> fits.Header:
    """The plate's own cards: ``header`` without layout cards (NAXISn, BZERO, ...), fixed.

    This is what a plate file stores with its pixels (and what the catalogue keeps).
    """
    cards = header.copy(strip=True)
    for key in list(cards.keys()):
        if key in _STRUCTURAL_KEYWORDS:
            cards.remove(key, ignore_missing=True, remove_all=True)
    for card in cards.cards:
        # Real DSS headers carry non-standard cards (e.g. SKEW's unquoted list); fix them
        # quietly now rather than have astropy warn about each one while writing.
        card.verify("silentfix")
    return cards


# -- Reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxRead:
    """Pixels of a box read from a plate.

    Attributes
    ----------
    data
        ``(y1 - y0, x1 - x0)`` int16 array; pixels off the image hold ``fill``.
    valid
        Boolean array of the same shape, True where the pixel came from the image.
    inside
        ``(rows, cols)`` slices of ``data`` that came from the image, or ``None`` when the
        box misses the image entirely.
    fill
        The value written off the image (the plate's BLANK, default -32768).
    """

    data: npt.NDArray[np.int16]
    valid: npt.NDArray[np.bool_]
    inside: tuple[slice, slice] | None
    fill: int

    @property
    def complete(self) -> bool:
        """The whole box lies on the image."""
        return bool(self.valid.all())


class PlateReader:
    """An open plate file serving boxes of pixels.

    The file is opened once (memory-mapped where possible) and stays open until
    :meth:`close` or garbage collection. Reads are serialised by a lock, so one reader may be
    shared by the threads of a worker.

    Parameters
    ----------
    path
        A plate file: tile-compressed (as written by :func:`write_plate`) or plain FITS,
        16-bit integer, without BZERO/BSCALE scaling.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # Raw integers: with BLANK in the header astropy would otherwise return float + NaN.
        self._hdul = fits.open(self.path, do_not_scale_image_data=True)
        try:
            self._hdu = _image_hdu(self._hdul, self.path)
        except BaseException:
            self._hdul.close()
            raise
        self.header: fits.Header = self._hdu.header
        self.compressed = isinstance(self._hdu, fits.CompImageHDU)
        self.shape: tuple[int, int] = (int(self.header["NAXIS2"]), int(self.header["NAXIS1"]))
        self.fill = int(self.header.get("BLANK", BLANK_DEFAULT))
        # A gzip/bzip2/zip stream cannot seek cheaply: astropy would re-inflate the file for
        # every row of a box, so such files are read in full-width row bands instead.
        self._stream_compressed = _is_stream_compressed(self.path)
        self._lock = threading.Lock()
        # The plate cache drops readers without closing them (another thread may be reading):
        # close the file when the last reference goes, not in the file object's finaliser,
        # which warns (ResourceWarning) about a file left open.
        self._closer = weakref.finalize(self, self._hdul.close)

    def __enter__(self) -> PlateReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._closer()

    @property
    def nx(self) -> int:
        """Image width (NAXIS1)."""
        return self.shape[1]

    @property
    def ny(self) -> int:
        """Image height (NAXIS2)."""
        return self.shape[0]

    def read_box(self, x0: int, x1: int, y0: int, y1: int) -> BoxRead:
        """Read columns ``x0 <= x < x1`` and rows ``y0 <= y < y1`` (0-based stored pixels).

        The box may extend beyond the image; those pixels are set to the fill value and
        flagged in ``valid``. Only the tiles the box touches are decompressed.
        """
        return read_box_within(self.shape, self.fill, (x0, x1, y0, y1), self._read_inside)

    def _read_inside(self, x0: int, x1: int, y0: int, y1: int) -> npt.NDArray[np.int16]:
        with self._lock:
            if self._stream_compressed:
                return np.asarray(self._hdu.section[y0:y1, :][:, x0:x1])
            return np.asarray(self._hdu.section[y0:y1, x0:x1])


class PlateSource(Protocol):
    """What the cut-out code needs of a stored plate, however it is stored.

    Implemented by :class:`PlateReader` (a FITS plate file: what the store holds, including
    plates imported from the original media, whose blocks become its tiles unchanged) and
    by ``extraction.core.media.reader.MediaPlateReader`` (a plate directory on a disc,
    decoding its blocks directly).
    """

    #: The plate's header (DSS plate solution, PLATEID, REGION...).
    header: fits.Header
    #: ``(NAXIS2, NAXIS1)``: rows and columns of the stored image.
    shape: tuple[int, int]
    #: The value of pixels off the image.
    fill: int

    def read_box(self, x0: int, x1: int, y0: int, y1: int) -> BoxRead:
        """Columns ``x0 <= x < x1``, rows ``y0 <= y < y1``, 0-based; off-image pixels filled."""
        ...

    def close(self) -> None:
        """Release the files."""
        ...


def read_box_within(
    shape: tuple[int, int],
    fill: int,
    box: tuple[int, int, int, int],
    read_inside: Callable[[int, int, int, int], npt.NDArray[np.int16]],
) -> BoxRead:
    """A :class:`BoxRead` of ``box = (x0, x1, y0, y1)`` on an image of ``shape``.

    ``read_inside(x0, x1, y0, y1)`` returns the pixels of a box that lies on the image; it is
    called at most once, with the part of ``box`` on the image. The rest holds ``fill``.
    """
    x0, x1, y0, y1 = box
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty box x {x0}:{x1}, y {y0}:{y1}")
    out = np.full((y1 - y0, x1 - x0), fill, dtype=np.int16)
    valid = np.zeros(out.shape, dtype=bool)
    ix0, ix1 = max(x0, 0), min(x1, shape[1])
    iy0, iy1 = max(y0, 0), min(y1, shape[0])
    if ix1 <= ix0 or iy1 <= iy0:
        return BoxRead(out, valid, None, fill)
    inside = (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0))
    out[inside] = read_inside(ix0, ix1, iy0, iy1)
    valid[inside] = True
    return BoxRead(out, valid, inside, fill)


_STREAM_MAGIC = (b"\x1f\x8b", b"BZh", b"PK\x03\x04")


def _is_stream_compressed(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4)
    return head.startswith(_STREAM_MAGIC)


def first_image_hdu(hdul: fits.HDUList) -> fits.ImageHDU | fits.CompImageHDU | None:
    """The first HDU of ``hdul`` holding a 2-D image (primary, image or tile-compressed).

    ``None`` when there is none; the HDU's header and pixels are not checked further.
    """
    for hdu in hdul:
        if isinstance(hdu, fits.CompImageHDU | fits.PrimaryHDU | fits.ImageHDU) and (
            hdu.header.get("NAXIS") == 2
        ):
            return hdu
    return None


def _image_hdu(hdul: fits.HDUList, path: Path) -> fits.ImageHDU | fits.CompImageHDU:
    hdu = first_image_hdu(hdul)
    if hdu is None:
        raise PlateStoreError(f"{path}: no 2-D image HDU")
    check_raw_int16(hdu.header, path)
    return hdu


def check_raw_int16(header: fits.Header, source: object) -> None:
    """Refuse a plate image that is not raw 16-bit integers; ``source`` names it."""
    if header.get("BITPIX") != 16:
        raise PlateStoreError(f"{source}: plates are BITPIX 16, got {header.get('BITPIX')}")
    if header.get("BZERO", 0) != 0 or header.get("BSCALE", 1) != 1:
        raise PlateStoreError(f"{source}: scaled pixel values (BZERO/BSCALE) are not supported")


# -- Per-process cache ------------------------------------------------------------------


@dataclass(frozen=True)
class OpenPlate:
    """An open plate: its reader and its geometry, valid for one version of the file.

    The cut-out code uses ``reader`` only through :class:`PlateSource`.
    """

    reader: PlateSource
    geometry: PlateGeometry
    #: Which version of the plate this is (path and file identity, or URL and ETag).
    key: tuple[object, ...]


class PlateCache:
    """A bounded LRU cache of open plates, each valid for one version of its plate.

    :meth:`get` keys local files by (path, mtime, size, inode): a file replaced on disk (new
    mtime, size or inode: ``write_plate`` always makes a new inode) is reopened on the next
    :meth:`get`. Other stores use :meth:`get_or_open` with their own test of freshness.
    Evicted readers are not closed here, because another thread may still be reading
    from them; they close when the last reference goes.
    """

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[str, OpenPlate] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str | os.PathLike[str]) -> OpenPlate:
        """The open plate for the file ``path``, opening (or reopening) it when needed."""
        real = os.path.realpath(path)
        stat = os.stat(real)
        key = (real, stat.st_mtime_ns, stat.st_size, stat.st_ino)

        def opened() -> OpenPlate:
            reader = PlateReader(real)
            return OpenPlate(reader, PlateGeometry(reader.header), key)

        return self.get_or_open(real, fresh=lambda entry: entry.key == key, opener=opened)

    def get_or_open(
        self,
        name: str,
        *,
        fresh: Callable[[OpenPlate], bool],
        opener: Callable[[], OpenPlate],
    ) -> OpenPlate:
        """The cached plate ``name`` if ``fresh(entry)``, else ``opener()``'s, cached."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and fresh(entry):
                self._entries.move_to_end(name)
                return entry
            # Opening under the lock costs a few ms but never opens one plate twice.
            entry = opener()
            self._entries[name] = entry
            self._entries.move_to_end(name)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
            return entry

    def clear(self) -> None:
        """Forget every open plate."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_cache = PlateCache()


def open_plate(path: str | os.PathLike[str]) -> OpenPlate:
    """The process-wide cached open plate for ``path`` (see :class:`PlateCache`)."""
    return _cache.get(path)


# -- Plate stores -----------------------------------------------------------------------


class PlateStore(Protocol):
    """Where plates are read from, each plate named by its key: its path inside the plates
    folder (``DSS2/S123.fits``), the same on every host whatever the store.

    Implemented by :class:`LocalPlateStore` (the plates folder on this host) and
    ``extraction.core.httpplates.HttpPlateStore`` (the folder served over HTTP).
    """

    #: Where the plates are, as staff would name it in a message (a folder or a URL).
    location: str

    def open(self, key: str) -> OpenPlate:
        """The plate ``key``, opened once per process and version (cached).

        Raises :class:`PlateStoreError` when it cannot be read, :class:`PlateChanged` (from
        ``read_box``) when it was replaced while in use.
        """
        ...

    def exists(self, key: str) -> bool:
        """The store holds the plate ``key``."""
        ...


def checked_plate_key(key: str) -> str:
    """``key`` if it names a file inside the plates folder: relative, no ``..``, ``/``-separated."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise PlateStoreError(
            f"{key!r} is not a plate key (a relative path inside the plates folder)"
        )
    return key


class LocalPlateStore:
    """The plates folder on this host: ``<root>/<key>``, read through the process's
    :class:`PlateCache` (a re-imported plate is reopened)."""

    def __init__(self, root: str | os.PathLike[str], cache: PlateCache | None = None) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self._cache = cache or _cache

    def path_of(self, key: str) -> Path:
        """The file of plate ``key``."""
        return self.root / checked_plate_key(key)

    def key_of(self, path: str | os.PathLike[str]) -> str:
        """The key of the plate file at ``path`` (inside the folder)."""
        try:
            relative = Path(path).relative_to(self.root)
        except ValueError:
            raise PlateStoreError(f"{path} is not inside the plates folder {self.root}") from None
        return checked_plate_key(relative.as_posix())

    def open(self, key: str) -> OpenPlate:
        return self._cache.get(self.path_of(key))

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()
