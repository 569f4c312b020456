"""Extracting one field: claim it, choose the plate, cut, write, and finish the request.

Every state change is a guarded update (``filter(status=...).update(...)`` that must change
exactly one row), so a duplicated or retried task never writes twice; the request's
completion is decided under a row lock, so the completion mail goes out exactly once.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from extraction.core.cutout import Cutout, compress, cutout_build, fits_bytes
from extraction.core.files import write_atomically
from extraction.core.plates import Coverage
from extraction.core.platestore import BoxRead, open_plate
from extraction.core.preview import preview_png
from extraction.core.surveys import output_file_name
from extraction.models import Field, FieldStatus, Request, RequestStatus, StagingDirectory
from extraction.services.leases import lease_release, lease_take
from extraction.services.selection import (
    FieldSkip,
    FieldTarget,
    PlateChoice,
    plate_select,
    plates_table,
)
from extraction.services.staging import (
    StagingError,
    staging_add_bytes,
    staging_directory_for_request,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Extracted:
    output_name: str
    size: int
    plate_id: int | None
    reason: str
    clipped: bool
    note: str = ""


def _claim(field_id: int) -> bool:
    """Move the field to running; False when it is finished.

    Called with the field's lease held (services.leases): a field still ``running`` then
    belongs to a worker that died, and is taken over at once.
    """
    claimable = Q(status=FieldStatus.QUEUED) | Q(status=FieldStatus.RUNNING)
    claimed = Field.objects.filter(claimable, pk=field_id).update(
        status=FieldStatus.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    return claimed == 1


def _finish(field_id: int, **values: object) -> bool:
    """Running -> a terminal state, once."""
    return (
        Field.objects.filter(pk=field_id, status=FieldStatus.RUNNING).update(
            finished_at=timezone.now(), **values
        )
        == 1
    )


def _target(field: Field) -> FieldTarget:
    return FieldTarget(
        survey=field.survey,
        mode=field.mode,
        plate_id=field.plate_id_asked,
        ra_deg=field.ra_deg,
        dec_deg=field.dec_deg,
        width_arcmin=field.width_arcmin,
        height_arcmin=field.height_arcmin,
    )


def scratch_root() -> Path:
    """Where partial files are written: on the staging filesystem, outside every user area."""
    return Path(settings.STAGING_DIR) / ".partial"


def scratch_dir() -> Path:
    """This process's scratch folder: the sweeper removes it once the process is dead."""
    return scratch_root() / f"{socket.gethostname()}-{os.getpid()}"


def preview_path(field: Field) -> Path:
    return Path(settings.PREVIEWS_DIR) / str(field.request_id) / f"{field.stem}.png"


def _write_plate_list(field: Field, directory: StagingDirectory) -> Extracted:
    table = plates_table(_target(field))
    name = f"{field.stem}.plates.txt"
    text = (
        f"Plates of {field.survey} on which field {field.identifier} lies\n"
        f"(centre {field.ra_text} {field.dec_text} {field.equinox}, "
        f"{field.width_arcmin:g}' x {field.height_arcmin:g}')\n\n{table}"
    )
    size = write_atomically(
        directory.absolute_path / name, text.encode("utf-8"), scratch=scratch_dir()
    )
    return Extracted(name, size, None, "n: plate list, no image", False, note=table)


@dataclass(frozen=True)
class CutImage:
    """A field cut from its plate, not yet written anywhere."""

    cutout: Cutout
    pixels: BoxRead
    choice: PlateChoice
    coverage: Coverage


def field_cut(*, target: FieldTarget, identifier: str) -> CutImage:
    """Choose the plate of an image field and cut it: the one extraction step, shared by
    staged fields and the synchronous cut-out of the API.

    Raises
    ------
    FieldSkip
        When no plate serves the field, or the chosen plate's pixels are not online.
    """
    choice = plate_select(target)
    plate = choice.plate
    if not plate.online or plate.data_path is None:
        raise FieldSkip(
            f"plate {plate.plate_id} ({choice.reason}) is catalogued but its pixels are not "
            f"online in this archive."
        )
    opened = open_plate(plate.data_path)
    coverage = opened.geometry.coverage(
        target.ra_deg, target.dec_deg, target.width_arcmin, target.height_arcmin
    )
    box = coverage.box
    if box is None or not coverage.covered:
        raise FieldSkip(f"plate {plate.plate_id} does not cover the field.")
    pixels = opened.reader.read_box(box.x0, box.x1, box.y0, box.y1)
    cutout = cutout_build(
        geometry=opened.geometry,
        plate_header=opened.reader.header,
        pixels=pixels,
        box=box,
        identifier=identifier,
        ra_deg=target.ra_deg,
        dec_deg=target.dec_deg,
    )
    return CutImage(cutout, pixels, choice, coverage)


def _cut_image(field: Field, directory: StagingDirectory) -> Extracted:
    cut = field_cut(target=_target(field), identifier=field.identifier)
    name = output_file_name(field.stem, field.compression)
    payload = compress(fits_bytes(cut.cutout), field.compression)
    size = write_atomically(directory.absolute_path / name, payload, scratch=scratch_dir())
    _write_preview(field, cut.pixels.data, cut.pixels.valid)
    note = ""
    if cut.cutout.clipped:
        note = (
            f"the field runs off the digitized plate; {1 - cut.coverage.fraction:.0%} of it "
            "is BLANK."
        )
    return Extracted(name, size, cut.choice.plate.pk, cut.choice.reason, cut.cutout.clipped, note)


def _write_preview(field: Field, data: npt.NDArray[np.int16], valid: npt.NDArray[np.bool_]) -> None:
    try:
        png = preview_png(data, valid)
        target = preview_path(field)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, png, scratch=target.parent)
    except Exception:  # a missing quick-look must never fail the field
        log.exception("preview of field %s failed", field.pk)


def _failure_message(exc: Exception) -> str:
    """What the user reads about a field that failed for a reason of ours, not theirs."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            "the archive's staging disk is full, so this field was not written; the archive "
            "staff can retry it once space is freed."
        )
    return f"internal error ({type(exc).__name__}); the archive staff can retry it."


def field_extract(*, field_id: int) -> str:
    """Do one field's work; safe to call twice, concurrently, or after a worker died.

    Returns the field's status afterwards, or ``"not claimed"`` when another worker has it.
    """
    if not lease_take(field_id):
        return "not claimed"
    status = "not claimed"
    try:
        status = _field_extract_leased(field_id)
    finally:
        lease_release(field_id, finished=status != FieldStatus.RUNNING)
    return status


def _field_extract_leased(field_id: int) -> str:
    if not _claim(field_id):
        return "not claimed"
    field = Field.objects.select_related("request").get(pk=field_id)
    try:
        directory = staging_directory_for_request(request=field.request)
        result = (
            _write_plate_list(field, directory)
            if field.mode == "n"
            else _cut_image(field, directory)
        )
    except (FieldSkip, StagingError) as skip:
        # StagingError: the user deleted the request's directory while it was being filled.
        _finish(field_id, status=FieldStatus.SKIPPED, message=str(skip))
    except Exception as exc:
        log.exception("field %s failed", field_id)
        _finish(field_id, status=FieldStatus.FAILED, message=_failure_message(exc))
    else:
        with transaction.atomic():
            if _finish(
                field_id,
                status=FieldStatus.DONE,
                output_name=result.output_name,
                bytes=result.size,
                plate_id=result.plate_id,
                plate_reason=result.reason[:200],
                clipped=result.clipped,
                message=result.note,
            ):
                staging_add_bytes(directory=directory, size=result.size)
    request_finish_if_complete(request_id=field.request_id)
    return Field.objects.values_list("status", flat=True).get(pk=field_id)


def request_finish_if_complete(*, request_id: int, cancelled: bool = False) -> bool:
    """Update the request's counts; when no field is left, mark it done and notify, once.

    Returns True for the one caller that finished the request.
    """
    with transaction.atomic():
        request = Request.objects.select_for_update().get(pk=request_id)
        counts = dict(request.fields.values_list("status").annotate(n=Count("id")).order_by())
        request.n_done = counts.get(FieldStatus.DONE, 0)
        request.n_skipped = counts.get(FieldStatus.SKIPPED, 0)
        request.n_failed = counts.get(FieldStatus.FAILED, 0)
        open_fields = counts.get(FieldStatus.QUEUED, 0) + counts.get(FieldStatus.RUNNING, 0)
        finishing = open_fields == 0 and request.notified_at is None and request.n_fields > 0
        if open_fields and request.status == RequestStatus.QUEUED:
            request.status = RequestStatus.RUNNING
        if finishing:
            now = timezone.now()
            request.status = RequestStatus.CANCELLED if cancelled else RequestStatus.DONE
            request.finished_at = request.notified_at = now
        request.save(
            update_fields=[
                "n_done",
                "n_skipped",
                "n_failed",
                "status",
                "finished_at",
                "notified_at",
            ]
        )
        if finishing:
            transaction.on_commit(lambda: _notify(request_id))
    return finishing


def _notify(request_id: int) -> None:
    from extraction.services.notify import notify_completion

    try:
        notify_completion(request_id=request_id)
    except Exception:
        log.exception("completion mail of request %s could not be sent", request_id)
