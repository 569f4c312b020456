"""Staging directories: where a request's files wait for FTP and HTTP until they expire.

Layout: ``$DSSPORTAL_DATA_DIR/staging/user-<pk>/<name>/`` with names from
``extraction.text.naming``. Every deletion checks that the path it removes is a real directory
(not a symlink) exactly two levels below the staging root, so that nothing outside a user's own
staging area can be touched, whatever the database says.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import User
from dssportal.infra.db import rows_update
from extraction.core.files import flush_to_disk, write_aside
from extraction.models import CancelReason, Field, FieldStatus, Request, StagingDirectory
from extraction.services.lifecycle import request_settle
from extraction.services.zips import zip_copies_forget
from extraction.text.naming import is_staging_name, staging_name_new

log = logging.getLogger(__name__)


class StagingError(Exception):
    """A staging operation that must not go ahead, with a reason fit for the user."""


def staging_root() -> Path:
    return Path(settings.STAGING_DIR)


def user_area(user: User) -> Path:
    return staging_root() / user.staging_area


def directory_bytes(path: Path) -> int:
    """Bytes of the regular files below ``path`` (symlinks are not followed or counted)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path, followlinks=False):
        for filename in filenames:
            try:
                info = os.lstat(os.path.join(dirpath, filename))
            except FileNotFoundError:
                continue  # removed while we walked
            if not os.path.islink(os.path.join(dirpath, filename)):
                total += info.st_size
    return total


def _checked_path(directory: StagingDirectory) -> Path:
    """The directory's absolute path, refusing anything that is not a user's staging dir."""
    if not is_staging_name(directory.name):
        raise StagingError(f"{directory.name!r} is not a staging-directory name.")
    expected = staging_root() / f"user-{directory.user_id}" / directory.name
    if directory.path != f"user-{directory.user_id}/{directory.name}":
        raise StagingError(f"staging directory {directory.name} has an unexpected path.")
    if expected.is_symlink():
        raise StagingError(f"staging directory {directory.name} is a symbolic link.")
    return expected


def previews_dir(request_id: int) -> Path:
    """Quick-look images of one request's fields; removed with its staging directory."""
    return Path(settings.PREVIEWS_DIR) / str(int(request_id))


class StagingDeleted(StagingError):
    """The request's staging directory was deleted: nothing more may be written into it."""


def _deleted_error(directory: StagingDirectory) -> StagingDeleted:
    return StagingDeleted(
        f"cancelled: staging directory {directory.name} was deleted before this field was made."
    )


def staging_directory_for_request(*, request: Request) -> StagingDirectory:
    """The request's staging directory, created (row and folder) on first use; raises
    :class:`StagingDeleted` once deleted. Extraction does not call this: it creates the
    directory with its first file (:func:`staging_files_publish`).

    Safe to call from several workers at once: the row is created under a lock on the
    request, and the folder creation is idempotent.
    """
    directory = _directory_row_for_request(request)
    _checked_path(directory).mkdir(parents=True, exist_ok=True)
    return directory


def _directory_row_for_request(request: Request) -> StagingDirectory:
    directory = StagingDirectory.objects.filter(request_id=request.pk).first()
    if directory is None:
        directory = _staging_directory_create(request)
    if directory.deleted_at is not None:
        raise _deleted_error(directory)
    return directory


def _staging_directory_create(request: Request) -> StagingDirectory:
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        directory = StagingDirectory.objects.filter(request=locked).first()
        if directory is None:
            now = timezone.now()
            name = staging_name_new(created=now.date())
            directory = StagingDirectory.objects.create(
                user_id=locked.user_id,
                request=locked,
                name=name,
                path=f"user-{locked.user_id}/{name}",
                expires_at=now + timedelta(days=settings.DSSPORTAL_STAGING_DAYS),
            )
    return directory


@dataclass(frozen=True)
class WrittenAside:
    """A finished file written into a scratch folder, not yet published; ``flushed`` is done
    once its data are on disk."""

    name: str
    temp: Path
    size: int
    flushed: Future[None]


#: The thread that flushes the files a worker has written, while the worker goes on making
#: the next ones (an fsync is I/O wait, 1.2 ms for a 10' DSS2 field here); one per process.
_flusher: tuple[int, ThreadPoolExecutor] | None = None


def _flush_in_background(path: Path) -> Future[None]:
    global _flusher
    if _flusher is None or _flusher[0] != os.getpid():  # threads do not survive a fork
        _flusher = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="staging-flush"))
    return _flusher[1].submit(flush_to_disk, path)


def staging_file_write_aside(name: str, payload: bytes, *, scratch: Path) -> WrittenAside:
    """Write a file meant for a staging directory into ``scratch`` (on the staging filesystem,
    outside every user area), and have it flushed to disk in the background: the caller's
    next field is made meanwhile, and :func:`staging_files_publish` waits for the flush."""
    temp, size = write_aside(Path(name), payload, scratch=scratch, flush=False)
    return WrittenAside(name, temp, size, _flush_in_background(temp))


def staging_files_publish(
    *,
    request: Request,
    files: Sequence[WrittenAside],
    record: Callable[[], Sequence[WrittenAside]],
) -> StagingDirectory | None:
    """Put finished files of one request into its staging directory, and record them.

    One transaction: ``record()`` (the fields' guarded moves to done) returns the files to
    publish (a field another worker had already recorded is left out, and its file is not
    written); the directory (row and folder, created here for the first file, never before)
    grows by their bytes in a guarded update that fails once the directory is deleted, which
    serialises this with :func:`staging_directory_delete` on every database; the files are
    renamed into place from ``scratch``, where they were written and flushed before: neither
    the database's lock nor the directory row is held through a write or an fsync. A task
    publishes the files it has made together: one commit and one update of the directory for
    all of them. Raises :class:`StagingDeleted` when the directory is gone, and nothing is
    recorded. Returns the directory, or None when nothing was to be published. The scratch
    files are removed whatever happens.
    """
    try:
        for aside in files:  # on disk before anything points at them
            aside.flushed.result()
        with transaction.atomic():
            kept = record()
            if not kept:
                return None
            directory = _live_directory_grown(request, sum(aside.size for aside in kept))
            path = _checked_path(directory)
            path.mkdir(parents=True, exist_ok=True)
            for aside in kept:
                os.replace(aside.temp, path / aside.name)
    finally:
        for aside in files:  # not published: declined, deleted, or an error
            aside.temp.unlink(missing_ok=True)
    return directory


#: Each request's staging directory as this process last saw it, so that a worker filling a
#: request does not read the row again for every file: its name and path never change, and
#: whether it is still live is checked by the guarded update every publish makes anyway.
_directories: dict[int, StagingDirectory] = {}
_DIRECTORIES_KEPT = 1024


def _live_directory_grown(request: Request, size: int) -> StagingDirectory:
    """The request's staging directory (the row created on first use), its bytes grown by
    ``size`` with a guarded update that fails once it is deleted: :class:`StagingDeleted`."""
    known = _directories.get(request.pk)
    if known is not None and _bytes_grown(known, size):
        return known
    directory = _directory_row_for_request(request)
    if not _bytes_grown(directory, size):
        raise _deleted_error(directory)
    if len(_directories) >= _DIRECTORIES_KEPT:
        _directories.clear()
    _directories[request.pk] = directory
    return directory


def _bytes_grown(directory: StagingDirectory, size: int) -> bool:
    # The name too: a row this process remembers may have been replaced (a test database).
    live = {"pk": directory.pk, "name": directory.name, "deleted_at": None}
    return rows_update(StagingDirectory, where=live, add={"bytes": size}) == 1


@dataclass(frozen=True)
class Deletion:
    name: str
    freed_bytes: int
    cancelled_fields: int = 0


def staging_directory_delete(*, directory: StagingDirectory, reason: str) -> Deletion:
    """Remove the folder and the request's previews, mark the row and its files deleted, and
    cancel the request's fields not yet made. Deleting twice is harmless.

    Serialised with :func:`staging_files_publish`: the guarded update of the row comes first
    and holds it (row lock on PostgreSQL, the write lock on SQLite) until the folder is gone,
    so a worker finishing a field meanwhile either wrote before (its file is counted and
    removed here) or finds the directory deleted and cancels its field.
    """
    path = _checked_path(directory)
    now = timezone.now()
    with transaction.atomic():
        marked = StagingDirectory.objects.filter(pk=directory.pk, deleted_at__isnull=True).update(
            deleted_at=now, deleted_reason=reason[:40], bytes=0
        )
        freed = directory_bytes(path) if path.exists() else 0
        cancelled = 0
        if marked and directory.request_id is not None:
            fields = Field.objects.filter(request_id=directory.request_id)
            fields.filter(status=FieldStatus.DONE, deleted_at__isnull=True).update(deleted_at=now)
            cancelled = fields.filter(status=FieldStatus.QUEUED).update(
                status=FieldStatus.CANCELLED,
                finished_at=now,
                message=f"cancelled: staging directory {directory.name} was deleted "
                f"({reason}) before this field was made.",
                cancel_reason=CancelReason.STAGING_DELETED,
            )
        _remove_tree(path)
        zip_copies_forget(directory.name)
        if directory.request_id is not None:
            shutil.rmtree(previews_dir(directory.request_id), ignore_errors=True)
    if marked and directory.request_id is not None:
        request_settle(request_id=directory.request_id)
    log.info("deleted staging directory %s (%s, %d bytes)", directory.name, reason, freed)
    return Deletion(name=directory.name, freed_bytes=freed, cancelled_fields=cancelled)


def _remove_tree(path: Path) -> None:
    """rmtree that tolerates a concurrent deletion (the expiry schedule on two hosts at once)."""
    for _attempt in range(3):
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            continue  # the other deleter removed something first; go over what is left
        else:
            return
    if path.exists():
        shutil.rmtree(path)


def staging_expire(*, now: datetime | None = None) -> list[Deletion]:
    """Delete every live staging directory whose expiry has passed."""
    now = now or timezone.now()
    expired = StagingDirectory.objects.filter(deleted_at__isnull=True, expires_at__lte=now)
    return [staging_directory_delete(directory=d, reason="expired") for d in expired]


def staging_usage_recompute(*, user: User | None = None) -> int:
    """Re-measure live directories from disk (the truth) and store their sizes; total bytes."""
    live = StagingDirectory.objects.filter(deleted_at__isnull=True)
    if user is not None:
        live = live.filter(user=user)
    return sum(_directory_remeasure(directory) for directory in live)


def _directory_remeasure(directory: StagingDirectory) -> int:
    """Measure one directory and store its size, serialised with publishing and deletion.

    The no-op update takes the row's write lock first (the row lock on PostgreSQL, the
    database's write lock on SQLite), as :func:`staging_files_publish` does before it renames
    a file in: a file published meanwhile is then either measured here or counted after,
    never measured before and overwritten by a stale size.
    """
    with transaction.atomic():
        row = StagingDirectory.objects.filter(pk=directory.pk, deleted_at__isnull=True)
        if row.update(bytes=F("bytes")) != 1:
            return 0  # deleted meanwhile
        path = _checked_path(directory)
        size = directory_bytes(path) if path.exists() else 0
        row.update(bytes=size)
    return size


def staging_bytes_used(*, user: User) -> int:
    """Bytes the user's live staging directories hold, as last recorded."""
    used = StagingDirectory.objects.filter(user=user, deleted_at__isnull=True).aggregate(
        total=Sum("bytes")
    )["total"]
    return int(used or 0)


def staging_file_removed(*, directory: StagingDirectory, name: str, size: int) -> None:
    """One file the user removed (FTP DELE): the directory's bytes shrink by ``size``, and the
    field that made it is marked deleted, its preview removed."""
    with transaction.atomic():
        if size:
            staging_add_bytes(directory=directory, size=-size)
        if directory.request_id is None:
            return
        made = Field.objects.filter(
            request_id=directory.request_id, output_name=name, status=FieldStatus.DONE
        ).first()
        if made is not None:
            Field.objects.filter(pk=made.pk).update(deleted_at=timezone.now())
            (previews_dir(directory.request_id) / f"{made.stem}.png").unlink(missing_ok=True)


def staging_add_bytes(*, directory: StagingDirectory, size: int) -> None:
    StagingDirectory.objects.filter(pk=directory.pk).update(bytes=F("bytes") + size)
