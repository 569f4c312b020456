"""Quick-look PNGs of staged cut-outs, made on first view and cached beside the staging area.

Extraction does not make them: most fields of a large request are never looked at, and the
PNG cost a third of a field's work beyond its floor (issue 13). The first view of a field's
preview reads its staged file back (a cut-out is small), writes the PNG to
``previews_dir(request)/<stem>.png`` and later views serve that file. The cache is removed with
the staging directory (:func:`~extraction.services.staging.staging_directory_delete`) or the
field's file (FTP ``DELE``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F

from extraction.core.cutout import decompress
from extraction.core.files import write_aside
from extraction.models import Field, FieldStatus, StagingDirectory
from extraction.pictures.preview import fits_preview_png
from extraction.services.staging import previews_dir

log = logging.getLogger(__name__)


def preview_path(field: Field) -> Path:
    """Where the field's cached quick-look is (or would be)."""
    return previews_dir(field.request_id) / f"{field.stem}.png"


def preview_scratch_dir() -> Path:
    """Where quick-looks are written before they are put in place (the sweeper removes what
    a dead web process left there)."""
    return Path(settings.PREVIEWS_DIR) / ".partial"


def _live_directory(field: Field) -> StagingDirectory | None:
    return StagingDirectory.objects.filter(request_id=field.request_id, deleted_at=None).first()


def _served_image(field: Field) -> bool:
    return field.status == FieldStatus.DONE and field.makes_image and field.deleted_at is None


def field_preview_file(*, field: Field) -> Path | None:
    """The field's quick-look PNG, made from its staged file on first call; None when it has
    none: not an image, not made (yet), or its file was deleted.

    Safe when several views of the same preview come at once (each writes the same bytes
    through its own temporary file and renames it), and against a deletion of the staging
    directory or of the file meanwhile: the PNG, written aside first, is renamed into place
    under the directory row's lock (the guarded update that also serialises publishing with
    deletion), after checking that neither is deleted, so a deletion either comes after and
    removes it, or came before and nothing is put in place.
    """
    if not _served_image(field):
        return None
    target = preview_path(field)
    if target.is_file():
        return target
    directory = _live_directory(field)
    if directory is None or not field.output_name:
        return None
    source = directory.absolute_path / field.output_name
    if source.is_symlink() or source.parent.is_symlink():
        return None  # never follow a link out of the staging area
    try:
        staged = source.read_bytes()
        png = fits_preview_png(decompress(staged, field.compression))
    except FileNotFoundError:
        return None  # deleted meanwhile
    except Exception:  # a broken quick-look must not break the page
        log.exception("preview of field %s failed", field.pk)
        return None
    # Written aside outside the request's folder, which a deletion may remove meanwhile.
    temp, _size = write_aside(target, png, scratch=preview_scratch_dir())
    try:
        with transaction.atomic():
            locked = StagingDirectory.objects.filter(pk=directory.pk, deleted_at=None)
            if locked.update(bytes=F("bytes")) != 1:
                return None
            if not Field.objects.filter(pk=field.pk, deleted_at=None).exists():
                return None
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)  # not put in place
    return target
