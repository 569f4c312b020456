"""Extracting a task's fields: claim them, choose the plates, cut, write, finish the requests.

Every state change is a guarded update (``filter(status=...).update(...)``: a field's end must
change exactly one row; the claim of a task's fields, under their leases, changes those not
finished), so a duplicated or retried task never writes twice; the request's
completion is decided under a row lock, so the completion mail goes out exactly once.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from dssportal.infra.db import rows_update, rows_update_each
from extraction.core.cut import CutField, FieldNotCovered, cut_from_store
from extraction.core.cutout import Cutout, compress, fits_bytes
from extraction.core.httpplates import PlateServerError
from extraction.core.plates import Coverage
from extraction.core.platestore import BoxRead
from extraction.core.surveys import PlateMode, output_file_name
from extraction.models import Field, FieldPlate, FieldStatus
from extraction.services.leases import leases_release, leases_take
from extraction.services.lifecycle import request_mark_running, request_settle
from extraction.services.mosaics import UsedPlate, mosaic_make
from extraction.services.platestores import plate_store
from extraction.services.selection import (
    FieldSkip,
    FieldTarget,
    PlateChoice,
    plate_select,
    plates_table,
)
from extraction.services.staging import (
    StagingDeleted,
    StagingError,
    WrittenAside,
    staging_file_write_aside,
    staging_files_publish,
)

log = logging.getLogger(__name__)

#: Output name of a mode-n field: ``<stem>.plates.txt`` (never an image suffix, see naming).
PLATE_LIST_SUFFIX = ".plates.txt"


@dataclass(frozen=True)
class Extracted:
    """A field's file, made in memory and not yet written anywhere."""

    output_name: str
    payload: bytes
    plate_id: int | None
    reason: str
    clipped: bool
    note: str = ""
    #: The plates of a mosaic (mode m), in PLATEn order.
    used: tuple[UsedPlate, ...] = ()


def _claim(field_ids: Sequence[int]) -> None:
    """Move the fields that are not finished to running, in one guarded update.

    Called with the fields' leases held (services.leases): a field still ``running`` then
    belongs to a worker that died, and is taken over at once.
    """
    rows_update(
        Field,
        where={"status": (FieldStatus.QUEUED, FieldStatus.RUNNING)},
        pks=field_ids,
        values={"status": FieldStatus.RUNNING, "started_at": timezone.now()},
        add={"attempts": 1},
    )


def _load(field_ids: Sequence[int]) -> list[Field]:
    """The fields with their requests, in one query, in the order of ``field_ids``."""
    # The request's list text and rejected lines can be long: a worker needs neither.
    fields = (
        Field.objects.select_related("request")
        .defer("request__raw_text", "request__rejected_lines")
        .in_bulk(field_ids)
    )
    return [fields[pk] for pk in field_ids if pk in fields]


def _finish(field_id: int, **values: object) -> bool:
    """Running -> a terminal state, once (a field's hot statement: ``rows_update``)."""
    where = {"pk": field_id, "status": FieldStatus.RUNNING}
    return rows_update(Field, where=where, values={"finished_at": timezone.now(), **values}) == 1


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


def _make_plate_list(field: Field) -> Extracted:
    table = plates_table(_target(field))
    text = (
        f"Plates of {field.survey} on which field {field.identifier} lies\n"
        f"(centre {field.ra_text} {field.dec_text} {field.equinox}, "
        f"{field.width_arcmin:g}' x {field.height_arcmin:g}')\n\n{table}"
    )
    return Extracted(
        output_name=f"{field.stem}{PLATE_LIST_SUFFIX}",
        payload=text.encode("utf-8"),
        plate_id=None,
        reason="n: plate list, no image",
        clipped=False,
        note=table,
    )


@dataclass(frozen=True)
class CutImage:
    """A field cut from its chosen plate, not yet written anywhere."""

    cut: CutField
    choice: PlateChoice

    @property
    def cutout(self) -> Cutout:
        return self.cut.cutout

    @property
    def pixels(self) -> BoxRead:
        return self.cut.pixels

    @property
    def coverage(self) -> Coverage:
        return self.cut.coverage


def field_cut(*, target: FieldTarget, identifier: str) -> CutImage:
    """Choose the plate of an image field and cut it (``core.cut.cut_field``): the one
    extraction step, shared by staged fields and the synchronous cut-out of the API.

    Raises
    ------
    FieldSkip
        When no plate serves the field, or the chosen plate's pixels are not online.
    """
    choice = plate_select(target)
    plate = choice.plate
    if not plate.online or not plate.data_file:
        raise FieldSkip(
            f"plate {plate.plate_id} is catalogued but its pixels are not online in this archive."
        )
    try:
        cut = cut_from_store(
            plate_store(),
            plate.data_file,
            ra_deg=target.ra_deg,
            dec_deg=target.dec_deg,
            width_arcmin=target.width_arcmin,
            height_arcmin=target.height_arcmin,
            identifier=identifier,
        )
    except FieldNotCovered:
        raise FieldSkip(f"plate {plate.plate_id} does not cover the field.") from None
    return CutImage(cut, choice)


def _cut_image(field: Field) -> Extracted:
    cut = field_cut(target=_target(field), identifier=field.identifier)
    note = ""
    if cut.cutout.clipped:
        note = (
            f"the field runs off the digitized plate; {1 - cut.coverage.fraction:.0%} of it "
            "is BLANK."
        )
    return Extracted(
        output_name=output_file_name(field.stem, field.compression),
        payload=compress(fits_bytes(cut.cutout), field.compression),
        plate_id=cut.choice.plate.pk,
        reason=cut.choice.reason,
        clipped=cut.cutout.clipped,
        note=note,
    )


def _make_mosaic(field: Field) -> Extracted:
    made = mosaic_make(target=_target(field), identifier=field.identifier)
    blank = made.mosaic.blank_fraction
    note = f"no online plate covers {blank:.0%} of the field: BLANK there." if blank else ""
    return Extracted(
        output_name=output_file_name(field.stem, field.compression),
        payload=compress(made.fits, field.compression),
        plate_id=None,
        reason=made.reason,
        clipped=blank > 0,
        note=note,
        used=made.used,
    )


def _record_plates(field: Field, used: tuple[UsedPlate, ...]) -> None:
    FieldPlate.objects.bulk_create(
        FieldPlate(
            field=field,
            position=n,
            plate=u.plate,
            plate_code=u.plate.plate_id,
            survey=u.plate.survey,
            region=u.plate.region,
            offset=u.offset,
            pixels=u.pixels,
        )
        for n, u in enumerate(used, 1)
    )


def _made(field: Field) -> Extracted:
    """The field's file: a plate list (n), a mosaic (m) or a plate cut-out."""
    if not field.makes_image:
        return _make_plate_list(field)
    if field.mode == PlateMode.MOSAIC:
        return _make_mosaic(field)
    return _cut_image(field)


@dataclass(frozen=True)
class _Made:
    """A claimed field whose file is made and written aside, waiting to be published."""

    field: Field
    made: Extracted
    aside: WrittenAside


#: A task publishes the files it has made together (one transaction per request: one commit
#: and one update of the directory's bytes for all of them, instead of one each), at the
#: latest once the first of them has waited this long, so that slow fields (mosaics) still
#: show their progress field by field.
PUBLISH_WITHIN_S = 1.0


def _fields_publish(pending: Sequence[_Made]) -> dict[int, str]:
    """Publish made fields, one transaction per request; each field's status afterwards."""
    groups: dict[int, list[_Made]] = {}
    for made in pending:
        groups.setdefault(made.field.request_id, []).append(made)
    statuses: dict[int, str] = {}
    for group in groups.values():
        statuses.update(_group_publish(group))
    return statuses


def _group_publish(group: Sequence[_Made]) -> dict[int, str]:
    """Move the fields of one request to done and put their files in its staging directory,
    in one transaction (``staging_files_publish``); each field's status afterwards. A field
    another worker had already finished keeps its state, and its file is not written."""
    recorded: list[_Made] = []

    def record() -> list[WrittenAside]:
        done = rows_update_each(
            Field,
            rows={m.field.pk: _done_values(m) for m in group},
            where={"status": FieldStatus.RUNNING},
            values={"status": FieldStatus.DONE, "finished_at": timezone.now()},
        )
        recorded[:] = [m for m in group if m.field.pk in done]
        for m in recorded:
            if m.made.used:
                _record_plates(m.field, m.made.used)
        return [m.aside for m in recorded]

    # No quick-look here: it is made on first view (services.previews).
    try:
        staging_files_publish(
            request=group[0].field.request, files=[m.aside for m in group], record=record
        )
    except StagingDeleted as gone:
        # The user deleted the request's directory while it was being filled.
        return {m.field.pk: _end(m.field.pk, FieldStatus.CANCELLED, str(gone)) for m in group}
    except StagingError as skip:
        return {m.field.pk: _end(m.field.pk, FieldStatus.SKIPPED, str(skip)) for m in group}
    except (OperationalError, InterfaceError):
        raise  # the database went away: see _field_made
    except Exception as exc:  # the staging disk: the same for every file of the group
        log.exception("fields %s failed to publish", [m.field.pk for m in group])
        message = _failure_message(exc)
        return {m.field.pk: _end(m.field.pk, FieldStatus.FAILED, message) for m in group}
    done = {m.field.pk for m in recorded}
    return {
        m.field.pk: FieldStatus.DONE if m.field.pk in done else _status_now(m.field.pk)
        for m in group
    }


def _done_values(m: _Made) -> dict[str, object]:
    """What a field's row says once its file is published (with its move to done)."""
    return {
        "output_name": m.made.output_name,
        "bytes": m.aside.size,
        "plate_id": m.made.plate_id,
        "plate_reason": m.made.reason[:200],
        "clipped": m.made.clipped,
        "message": m.made.note,
    }


def _end(field_id: int, status: FieldStatus, message: str) -> str:
    """Running -> ``status``; the field's status afterwards, whoever moved it."""
    return status if _finish(field_id, status=status, message=message) else _status_now(field_id)


def _status_now(field_id: int) -> str:
    """Read back only when something else (a duplicate task, staff) moved the field."""
    return str(Field.objects.values_list("status", flat=True).get(pk=field_id))


def _failure_message(exc: Exception) -> str:
    """What the user reads about a field that failed for a reason of ours, not theirs."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            "the archive's staging disk is full, so this field was not written; the archive "
            "staff can retry it once space is freed."
        )
    if isinstance(exc, PlateServerError):
        # str(exc) names the server: "the plate server http://... cannot be reached (...)".
        return f"{exc}; the archive staff can retry this field once the plate server is back."
    return f"internal error ({type(exc).__name__}); the archive staff can retry it."


NOT_CLAIMED = "not claimed"


def field_extract(*, field_id: int, settle: bool = True) -> str:
    """Do one field's work (:func:`fields_extract_task` of one field); its status afterwards,
    or ``"not claimed"`` when another worker has it or it had ended."""
    return fields_extract_task([field_id], ended={}, settle=settle)[field_id]


def fields_extract_task(
    field_ids: Sequence[int],
    *,
    ended: dict[int, str],
    settle: bool,
    retried: bool = False,
    claimed_requests: set[int] | None = None,
) -> dict[int, str]:
    """Do the work of a task's fields; safe to call twice, concurrently, or after a worker
    died. Returns each field's status afterwards: ``"not claimed"`` when another worker has
    it, or it had ended before (its status instead when ``retried``: a retry after a
    database error, which may have cut the attempt after the field ended).

    Per task, not per field: the leases are taken in one statement, the fields claimed in one
    guarded update and loaded in one query, each request marked running once, the leases
    given up in one statement at the end. Per field remain the cut, the file and its guarded
    move to done; the files made are published together, one transaction per request
    (``PUBLISH_WITHIN_S``). ``ended`` is filled as fields end, so that a caller that
    meets a database error knows which are left. With ``settle=False`` the requests are not
    settled: the caller does it (:func:`fields_settle`), for the requests this adds to
    ``claimed_requests``. The staging directory is created by the first file written into it,
    never before.
    """
    field_ids = list(dict.fromkeys(field_ids))
    statuses = dict.fromkeys(field_ids, NOT_CLAIMED)
    leased = leases_take(field_ids)
    finished: set[int] = set()
    try:
        _claim(leased)
        fields = _load(leased)
        for field in fields:
            if field.status != FieldStatus.RUNNING:  # it had ended: nothing to do
                finished.add(field.pk)
                statuses[field.pk] = ended[field.pk] = field.status if retried else NOT_CLAIMED
        claimed = [field for field in fields if field.status == FieldStatus.RUNNING]
        for request_id in sorted({field.request_id for field in claimed}):
            request_mark_running(request_id=request_id)
            if claimed_requests is not None:
                claimed_requests.add(request_id)
        for field_id, status in _fields_work(claimed):
            statuses[field_id] = ended[field_id] = status
            if status != FieldStatus.RUNNING:
                finished.add(field_id)
        if settle:
            for request_id in sorted({field.request_id for field in claimed}):
                request_settle(request_id=request_id)
    finally:
        leases_release(leased, finished=finished)
    return statuses


def fields_settle(*, request_ids: Iterable[int]) -> None:
    """Settle each of these requests, once: after a task of several fields extracted with
    ``settle=False`` (inside :func:`~extraction.services.selection.catalogue_memoised`, as
    fields of one request share their plates), the requests whose fields it claimed.

    Settling last is enough for the completion mail: whoever ends a request's last open field
    settles it afterwards, here or in the task of the other fields. Should a field raise (the
    database went away), it stays open and the sweeper's retry of it settles the request.
    """
    for request_id in sorted(set(request_ids)):
        request_settle(request_id=request_id)


def _fields_work(claimed: Sequence[Field]) -> Iterator[tuple[int, str]]:
    """Make the claimed fields one by one and publish them in groups (``PUBLISH_WITHIN_S``);
    each field's status as it ends. A database error leaves the fields not yet published
    running (their files made aside are removed): the caller does them again."""
    pending: list[_Made] = []
    waiting_since = 0.0
    try:
        for field in claimed:
            made = _field_made(field)
            if isinstance(made, str):
                yield field.pk, made
                continue
            if not pending:
                waiting_since = time.monotonic()
            pending.append(made)
            if time.monotonic() - waiting_since >= PUBLISH_WITHIN_S:
                yield from _fields_publish(pending).items()
                pending = []
        if pending:
            yield from _fields_publish(pending).items()
            pending = []
    finally:
        for left in pending:
            left.aside.temp.unlink(missing_ok=True)


def _field_made(field: Field) -> _Made | str:
    """Make one claimed field's file and write it aside; or the status the field ended in
    when it cannot be made (skipped, failed)."""
    try:
        made = _made(field)
        aside = staging_file_write_aside(made.output_name, made.payload, scratch=scratch_dir())
    except (FieldSkip, StagingError) as skip:
        return _end(field.pk, FieldStatus.SKIPPED, str(skip))
    except (OperationalError, InterfaceError):
        # The database went away (a restart, a cut connection, SQLite busy): not the field's
        # fault. It stays running with its lease given up, and the sweeper queues it again.
        raise
    except Exception as exc:
        log.exception("field %s failed", field.pk)
        return _end(field.pk, FieldStatus.FAILED, _failure_message(exc))
    return _Made(field, made, aside)
