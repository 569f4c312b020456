"""Creating requests: text in, a Request with its Fields out, capacity checked, work queued."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from extraction.core.mosaic import expected_mosaic_bytes
from extraction.models import (
    CancelReason,
    Field,
    FieldStatus,
    Request,
    RequestStatus,
    StagingDirectory,
)
from extraction.services import queue
from extraction.services.lifecycle import request_settle
from extraction.services.selection import plate_ids_checked
from extraction.services.staging import staging_bytes_used
from extraction.text.requestlist import FieldSpec, ParsedList, expected_bytes, parse_request_list
from extraction.text.safetext import Listing, clip, listing, storable
from extraction.text.textformat import human_bytes

log = logging.getLogger(__name__)

#: What a plate list (mode n) is expected to take in staging, for the quota: a few header
#: lines and one line per plate; a field lies on at most a dozen plates of a survey.
PLATE_LIST_EXPECTED_BYTES = 4096

T = TypeVar("T")


@dataclass
class RequestOutcome:
    """What happened to a submitted list; enough to write the receipt."""

    request: Request
    duplicate: bool = False
    fields: list[Field] = field(default_factory=list)
    rejected: list[dict[str, int | str | None]] = field(default_factory=list)
    quota_bytes: int = 0
    used_bytes: int = 0
    reserved_bytes: int = 0

    @property
    def remaining_bytes(self) -> int:
        return max(0, self.quota_bytes - self.used_bytes - self.reserved_bytes)


def parse_with_limits(text: str) -> ParsedList:
    """The one parser, with the limits from settings and plate ids checked against the
    catalogue (an unknown or other-survey PLATE-ID is a rejected line)."""
    parsed = parse_request_list(
        text,
        max_side_arcmin=settings.DSSPORTAL_MAX_FIELD_ARCMIN,
        max_lines=settings.DSSPORTAL_MAX_REQUEST_LINES,
    )
    return plate_ids_checked(parsed)


#: How much of one rejected line (and of its error) a request stores and quotes.
REJECTED_TEXT_CHARS = 200
REJECTED_ERROR_CHARS = 400


def rejected_listing(rejected: Sequence[T], *, total: int | None = None) -> Listing[T]:
    """The rejected lines a reply, page or API answer shows: at most
    ``DSSPORTAL_MAX_LISTED_ERRORS`` of them, with the count of the rest (``total`` is
    ``Request.n_rejected`` when ``rejected`` is the stored, already bounded, list)."""
    return listing(rejected, limit=settings.DSSPORTAL_MAX_LISTED_ERRORS, total=total)


def _rejected_entry(line_no: int, raw: str, error: str | None) -> dict[str, int | str | None]:
    return {
        "line": line_no,
        "text": clip(raw, REJECTED_TEXT_CHARS),
        "error": clip(error or "", REJECTED_ERROR_CHARS),
    }


def bytes_reserved(*, user: User) -> int:
    """Expected bytes of the user's fields that are queued or running (not yet on disk)."""
    pending = Field.objects.filter(
        request__user=user, status__in=[FieldStatus.QUEUED, FieldStatus.RUNNING]
    ).aggregate(total=Sum("expected_bytes"))["total"]
    return int(pending or 0)


def _field_row(request: Request, line_no: int, raw: str, spec: FieldSpec) -> Field:
    return Field(
        request=request,
        line_no=line_no,
        raw_line=raw[:2000],
        identifier=spec.identifier,
        stem=spec.stem,
        equinox=spec.equinox,
        ra_text=spec.ra_text,
        dec_text=spec.dec_text,
        ra_deg=spec.ra_deg,
        dec_deg=spec.dec_deg,
        width_arcmin=spec.width_arcmin,
        height_arcmin=spec.height_arcmin,
        survey=spec.survey,
        mode=spec.mode,
        plate_id_asked=spec.plate_id or "",
        compression=spec.compression,
        expected_bytes=field_expected_bytes(spec),
    )


def field_expected_bytes(spec: FieldSpec) -> int:
    """What the field's file is expected to take in staging: a plate list, a mosaic (image
    and PLATEMAP at the survey's native scale) or a cut-out."""
    if spec.mode == "n":
        return PLATE_LIST_EXPECTED_BYTES
    if spec.mode == "m":
        return expected_mosaic_bytes(spec.survey_base, spec.width_arcmin, spec.height_arcmin)
    return expected_bytes(spec)


def _apply_quota(fields: list[Field], *, remaining: int, quota: int) -> int:
    """Skip, in line order, the fields that do not fit; return the bytes reserved."""
    reserved = 0
    for row in fields:
        if row.expected_bytes <= remaining - reserved:
            reserved += row.expected_bytes
            continue
        row.status = FieldStatus.SKIPPED
        row.message = (
            f"needs about {human_bytes(row.expected_bytes)}, but only "
            f"{human_bytes(max(0, remaining - reserved))} of your {human_bytes(quota)} "
            f"staging quota remain; delete staging directories you no longer need, or ask "
            f"the archive staff for a larger quota."
        )
    return reserved


def request_create_from_text(
    *,
    user: User,
    text: str,
    source: str,
    message_id: str | None = None,
    parsed: ParsedList | None = None,
) -> RequestOutcome:
    """Store a request list and queue its fields.

    Every list is stored, even when no line is valid. A ``message_id`` seen before returns
    the earlier request with ``duplicate=True`` and queues nothing. Fields whose expected
    size does not fit in the user's remaining staging quota are skipped with the numbers.
    The text is made :func:`~extraction.text.safetext.storable` first (no NUL, no lone
    surrogate: no database refuses it); ``Request.rejected_lines`` keeps the first
    ``DSSPORTAL_MAX_LISTED_ERRORS`` rejected lines, each cut short, and ``n_rejected``
    counts them all, so a megabyte of bad lines stores a few kilobytes of errors.
    ``parsed`` is :func:`parse_with_limits` of ``text`` when the caller has it already (the
    form checks the list before storing it): parsing twice costs a submission time and a
    catalogue query.
    """
    stored = storable(text)
    if stored != text:
        text, parsed = stored, None  # the caller parsed other text than is stored
    if message_id:
        # Message-IDs are unique per sender only: another user's message carrying the same id
        # (forged or broken) is a list of its own, never an answer with someone else's request.
        existing = Request.objects.filter(user=user, message_id=message_id).first()
        if existing is not None:
            return RequestOutcome(request=existing, duplicate=True)
    if parsed is None:
        parsed = parse_with_limits(text)
    try:
        with transaction.atomic():
            outcome = _store(
                user=user, text=text, source=source, message_id=message_id, parsed=parsed
            )
    except IntegrityError:
        # The same message arrived twice at once; the other copy won.
        existing = Request.objects.filter(user=user, message_id=message_id).first()
        if existing is None:
            raise
        return RequestOutcome(request=existing, duplicate=True)
    return outcome


def _store(
    *, user: User, text: str, source: str, message_id: str | None, parsed: ParsedList
) -> RequestOutcome:
    # Serialise a user's submissions so two lists cannot both spend the same quota.
    User.objects.select_for_update().filter(pk=user.pk).first()
    rejected = [_rejected_entry(line.line_no, line.raw, line.error) for line in parsed.errors]
    request = Request.objects.create(
        user=user,
        source=source,
        message_id=message_id or None,
        raw_text=text,
        rejected_lines=rejected[: settings.DSSPORTAL_MAX_LISTED_ERRORS],
        n_rejected=len(rejected),
    )
    rows = [
        _field_row(request, line.line_no, line.raw, line.field)
        for line in parsed.lines
        if line.field is not None
    ]
    used, reserved_before = staging_bytes_used(user=user), bytes_reserved(user=user)
    remaining = user.quota_bytes - used - reserved_before
    reserved = _apply_quota(rows, remaining=remaining, quota=user.quota_bytes)
    queued_rows = [row for row in rows if row.status == FieldStatus.QUEUED]
    for row, at in zip(
        queued_rows, queue.enqueue_times(len(queued_rows), now=timezone.now()), strict=True
    ):
        row.enqueued_at = at  # as enqueue_fields would record them, written with the rows
    Field.objects.bulk_create(rows)
    request.n_fields = len(rows)
    request.n_skipped = sum(1 for r in rows if r.status == FieldStatus.SKIPPED)
    request.expected_bytes = reserved
    if not rows:
        request.status = RequestStatus.REJECTED
    request.save(update_fields=["n_fields", "n_skipped", "expected_bytes", "status"])
    # The rows just stored, in line order, with the keys the insert returned (PostgreSQL,
    # SQLite): reading 1,000 rows back cost the gate 40 ms.
    fields = rows if all(row.pk for row in rows) else list(request.fields.order_by("line_no"))
    queued = [f.pk for f in fields if f.status == FieldStatus.QUEUED]
    if rows:
        transaction.on_commit(lambda: _start(request.pk, queued))
    return RequestOutcome(
        request=request,
        fields=fields,
        rejected=rejected,
        quota_bytes=user.quota_bytes,
        used_bytes=used,
        reserved_bytes=reserved_before + reserved,
    )


def _start(request_id: int, field_ids: list[int]) -> None:
    queue.enqueue_fields(field_ids, marked=True)
    if not field_ids:
        request_settle(request_id=request_id)


#: What a cancelled field's row says to people (its ``cancel_reason`` says why to the code).
CANCELLED_BY_STAFF = "cancelled by the archive staff"
CANCELLED_BY_OWNER = "cancelled at the owner's request"


def request_cancel(*, request: Request, by_owner: bool = False) -> int:
    """Cancel (by staff, or by the owner through the API): queued fields become cancelled;
    running ones finish, then the request is ``cancelled`` (see
    :mod:`extraction.services.lifecycle`). Returns how many were cancelled; a request with
    no queued field is unchanged."""
    cancelled = Field.objects.filter(request=request, status=FieldStatus.QUEUED).update(
        status=FieldStatus.CANCELLED,
        finished_at=timezone.now(),
        message=CANCELLED_BY_OWNER if by_owner else CANCELLED_BY_STAFF,
        cancel_reason=CancelReason.OWNER if by_owner else CancelReason.STAFF,
    )
    if cancelled:
        request_settle(request_id=request.pk)
    return cancelled


def fields_retry_failed(*, request: Request) -> int:
    """Queue a request's failed fields again; returns how many.

    Only the failed fields are re-opened. A final request goes back to ``queued`` and will
    send one more completion mail, which says it follows a retry. A request with no failed
    field, or whose staging directory was deleted (nowhere to put the files), is unchanged.
    """
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        staging = StagingDirectory.objects.filter(request=locked).first()
        if staging is not None and staging.deleted_at is not None:
            return 0
        ids = list(
            Field.objects.filter(request=locked, status=FieldStatus.FAILED).values_list(
                "pk", flat=True
            )
        )
        if not ids:
            return 0
        Field.objects.filter(pk__in=ids, status=FieldStatus.FAILED).update(
            status=FieldStatus.QUEUED, message="", started_at=None, finished_at=None
        )
        reopened: dict[str, object] = {"retries": locked.retries + 1}
        if locked.notified_at is not None:
            reopened |= {
                "status": RequestStatus.QUEUED,
                "notified_at": None,
                "mailed_at": None,
                "finished_at": None,
            }
        Request.objects.filter(pk=locked.pk).update(**reopened)
        request_settle(request_id=locked.pk)
        transaction.on_commit(lambda: queue.enqueue_fields(ids))
    return len(ids)
