"""Files that appear whole or not at all: the one atomic-write helper.

Pure Python; no Django. Cut-outs, PNG previews, plate files and outbox mails are written to a
temporary name and renamed when complete, so that FTP, HTTP, a mail reader or a worker never
sees half a file, and a process killed mid-write leaves only a ``*.part`` orphan.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["flush_to_disk", "held", "stale_parts_remove", "write_aside", "write_atomically"]


def write_aside(
    final: Path,
    data: bytes | Callable[[BinaryIO], object],
    *,
    scratch: Path | None = None,
    flush: bool = True,
) -> tuple[Path, int]:
    """Write ``data`` to a new temporary file meant to become ``final``, flushed to disk.

    The first half of :func:`write_atomically`, for callers that must put the file in place
    at a moment of their choosing (under a lock, say, without holding the lock through the
    write and the fsync): they ``os.replace`` the temporary onto ``final``, or remove it.
    Parameters as for :func:`write_atomically`; returns the temporary's path and its size.
    With ``flush=False`` the caller flushes it (:func:`flush_to_disk`) before the rename.
    """
    folder = scratch if scratch is not None else final.parent
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".{final.name}.{secrets.token_hex(6)}.part"
    try:
        # Exclusive create with the usual umask-derived permissions, opened as "wb" (astropy's
        # writeto does not know an "xb" handle).
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            # Held while the file is written: a .part nobody holds is an orphan
            # (stale_parts_remove); the lock goes with the process that dies.
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            if isinstance(data, bytes | bytearray | memoryview):
                handle.write(data)
            else:
                data(handle)
            handle.flush()
            if flush:
                os.fsync(handle.fileno())
            size = handle.tell()
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp, size


def flush_to_disk(path: Path) -> None:
    """fsync the file at ``path`` (its data reach the disk whichever descriptor wrote them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(
    final: Path, data: bytes | Callable[[BinaryIO], object], *, scratch: Path | None = None
) -> int:
    """Write ``data`` to ``final`` through a temporary file, then rename it into place.

    Parameters
    ----------
    final
        The file to create or replace.
    data
        The bytes, or a function that writes them to the open binary handle it is given
        (e.g. ``HDUList.writeto``), so large files need not be built in memory first.
    scratch
        Directory of the temporary file; it must be on the same filesystem as ``final``
        (``os.replace`` is atomic only there). Give one outside anything FTP or HTTP serves
        when ``final``'s directory is served. Default: ``final``'s own directory.

    Returns
    -------
    int
        The number of bytes written.
    """
    temp, size = write_aside(final, data, scratch=scratch)
    try:
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return size


def stale_parts_remove(final: Path) -> list[Path]:
    """Remove the orphaned temporaries of ``final`` in its own directory: ``.part`` files a
    killed writer left (a plate import is ~100 MB each). A temporary another process is still
    writing is locked (:func:`write_aside`, :func:`held`) and kept. Returns the files removed."""
    removed = []
    for part in final.parent.glob(f".{final.name}.*.part"):
        try:
            fd = os.open(part, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            part.unlink(missing_ok=True)
            removed.append(part)
        except BlockingIOError:
            pass  # being written
        finally:
            os.close(fd)
    return removed


@contextmanager
def held(temp: Path) -> Iterator[None]:
    """Keep a temporary from :func:`write_aside` locked while it is finished in place
    (between the write and the rename), so :func:`stale_parts_remove` leaves it alone."""
    fd = os.open(temp, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
