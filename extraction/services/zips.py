"""The zip of a staging directory: its layout (size and bytes known before sending), and,
for nginx to send (``DSSPORTAL_ACCEL_REDIRECT``), one built copy per directory version.

A built copy lives in ``ZIP_CACHE_DIR/<directory name>/<fingerprint>.zip``; the fingerprint
covers every member's name, size, time and CRC, so a directory that gained or lost a file
gets a new copy and the old one is removed. Deleting the directory removes its copies
(:func:`zip_copies_forget`, called by the staging service).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from extraction.core.ziplayout import CrcCache, ZipLayout, ZipMember, zip_layout

__all__ = ["StagingZip", "staging_zip", "zip_copies_forget", "zip_copy_built"]

_CRCS = CrcCache()
#: A half-built copy older than this was left by a killed process: removed.
_STALE_PART_SECONDS = 3600


@dataclass(frozen=True)
class StagingZip:
    folder: str
    layout: ZipLayout
    fingerprint: str
    mtime: float


def staging_zip(*, files: list[Path], folder: str) -> StagingZip:
    """The archive of ``files`` under ``folder/``; files gone meanwhile are left out."""
    members: list[ZipMember] = []
    for path in files:
        try:
            info, crc = _CRCS.stat_and_crc(path)
        except FileNotFoundError:
            continue  # deleted or expired while we were looking
        members.append(ZipMember(f"{folder}/{path.name}", path, info.st_size, info.st_mtime, crc))
    digest = hashlib.sha256()
    for m in members:
        digest.update(f"{m.name}\0{m.size}\0{m.mtime!r}\0{m.crc}\n".encode())
    return StagingZip(
        folder=folder,
        layout=zip_layout(members),
        fingerprint=digest.hexdigest()[:32],
        mtime=max((m.mtime for m in members), default=0.0),
    )


def zip_copy_built(archive: StagingZip) -> Path:
    """The built copy of ``archive`` on disk (built now if missing), relative to
    ``ZIP_CACHE_DIR``; older copies of the same directory are removed."""
    folder = Path(settings.ZIP_CACHE_DIR) / archive.folder
    target = folder / f"{archive.fingerprint}.zip"
    if _built(target, archive):
        return target.relative_to(settings.ZIP_CACHE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    # One builder per directory (and host): ten clients asking at once wait for one copy.
    with (folder / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _built(target, archive):
            _build(archive, folder, target)
        _remove_others(folder, keep=target)
    return target.relative_to(settings.ZIP_CACHE_DIR)


def _built(target: Path, archive: StagingZip) -> bool:
    return target.is_file() and target.stat().st_size == archive.layout.size


def _build(archive: StagingZip, folder: Path, target: Path) -> None:
    part = folder / f".{archive.fingerprint}.{secrets.token_hex(6)}.part"
    try:
        with part.open("wb") as out:
            for chunk in archive.layout.read(0, archive.layout.size):
                out.write(chunk)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def _remove_others(folder: Path, *, keep: Path) -> None:
    now = time.time()
    for other in folder.iterdir():
        if other == keep or other.name == ".lock":
            continue
        try:
            if other.suffix == ".zip" or now - other.stat().st_mtime > _STALE_PART_SECONDS:
                other.unlink()
        except FileNotFoundError:
            pass  # another request tidied it first


def zip_copies_forget(name: str) -> None:
    """Remove the built copies of staging directory ``name`` (a checked staging name)."""
    shutil.rmtree(Path(settings.ZIP_CACHE_DIR) / name, ignore_errors=True)
