"""Staging directories: where a request's files wait for FTP and HTTP until they expire.

Layout: ``$DSSPORTAL_DATA_DIR/staging/user-<pk>/<name>/`` with names from
``extraction.core.naming``. Every deletion checks that the path it removes is a real directory
(not a symlink) exactly two levels below the staging root, so that nothing outside a user's own
staging area can be touched, whatever the database says.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import User
from extraction.core.naming import is_staging_name, staging_name_new
from extraction.models import Request, StagingDirectory

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


def staging_directory_for_request(*, request: Request) -> StagingDirectory:
    """The request's staging directory, created (row and folder) on first use.

    Safe to call from several workers at once: the row is created under a lock on the request,
    and the folder creation is idempotent.
    """
    directory = StagingDirectory.objects.filter(request_id=request.pk).first()
    if directory is None:
        directory = _staging_directory_create(request)
    if directory.deleted_at is not None:
        raise StagingError(
            f"staging directory {directory.name} was deleted before this field was made."
        )
    path = _checked_path(directory)
    path.mkdir(parents=True, exist_ok=True)
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
class Deletion:
    name: str
    freed_bytes: int


def staging_directory_delete(*, directory: StagingDirectory, reason: str) -> Deletion:
    """Remove the folder and mark the row deleted. Deleting twice is harmless."""
    path = _checked_path(directory)
    freed = directory_bytes(path) if path.exists() else 0
    _remove_tree(path)
    StagingDirectory.objects.filter(pk=directory.pk, deleted_at__isnull=True).update(
        deleted_at=timezone.now(), deleted_reason=reason[:40], bytes=0
    )
    log.info("deleted staging directory %s (%s, %d bytes)", directory.name, reason, freed)
    return Deletion(name=directory.name, freed_bytes=freed)


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
    total = 0
    for directory in live:
        path = _checked_path(directory)
        size = directory_bytes(path) if path.exists() else 0
        if size != directory.bytes:
            StagingDirectory.objects.filter(pk=directory.pk).update(bytes=size)
        total += size
    return total


def staging_bytes_used(*, user: User) -> int:
    """Bytes the user's live staging directories hold, as last recorded."""
    used = StagingDirectory.objects.filter(user=user, deleted_at__isnull=True).aggregate(
        total=Sum("bytes")
    )["total"]
    return int(used or 0)


def staging_add_bytes(*, directory: StagingDirectory, size: int) -> None:
    StagingDirectory.objects.filter(pk=directory.pk).update(bytes=F("bytes") + size)
