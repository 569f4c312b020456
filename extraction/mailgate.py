"""The mail gate: one incoming message in; a request, a deletion or nothing out; maybe a reply.

:func:`mail_handle` is the one function that handles one message. ``ingest_mail`` (stdin,
Maildir, mbox, IMAP) and any other listener only hand it bytes. It reads the message with
the pure helpers of :mod:`extraction.core.mailtext`, then does, in one transaction: claim
the message (a unique key of routing kind and Message-ID), record it as an
:class:`~extraction.models.InboundMail`, and act (create the request, delete directories).
The reply is sent after the commit, so a rolled-back message is never answered, and a
message delivered twice, one after the other or at the same moment from two processes, is
acted on and answered once.

Who gets a reply
----------------
- A registered sender (a verified address of an active user): the receipt of a request,
  the result of a deletion list, or a note that the message was too large or was sent to
  both service addresses. Always to the user's primary registered address, never to
  Reply-To or to the address the message came from.
- A stranger: nothing is served; at most one notice per address per 24 hours pointing at
  registration.
- Nobody, for automated mail (RFC 3834: ``Auto-Submitted`` other than ``no``,
  ``Precedence`` bulk/junk/list, ``List-Id``, an empty ``Return-Path``, reports), for mail
  to neither service address, for duplicates and for failures. Responses to mail (bounces,
  vacation notices) and mailing-list copies are not even read; ``auto-generated`` mail from
  a registered user (a scripted request) is served without a receipt.

Messages without a Message-ID get a synthetic one: a hash of the sender, the text that
was read and the UTC day of the Date header (of arrival without one), so that a message
retried by an MTA still makes one request.
"""

from __future__ import annotations

import hashlib
import logging
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import compat32

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import user_for_sender
from extraction.core import mailtext
from extraction.core.mailtext import MailBody, TextPart
from extraction.core.requestlist import DeletionEntry, parse_deletion_list
from extraction.models import (
    Field,
    FieldStatus,
    InboundMail,
    InboundMailKind,
    InboundMailOutcome,
    Request,
    StagingDirectory,
)
from extraction.services.notify import request_web_url
from extraction.services.requests import (
    RequestOutcome,
    human_bytes,
    parse_with_limits,
    request_create_from_text,
)
from extraction.services.staging import StagingError, staging_directory_delete

log = logging.getLogger(__name__)

__all__ = ["MailOutcome", "MailTemporaryFailure", "mail_handle"]

#: Database errors that say "not now" rather than "never": the MTA should keep the message.
TEMPORARY_ERRORS = (OperationalError, InterfaceError)
WIDTH = 72
STRANGER_NOTICE_INTERVAL = timedelta(hours=24)
_LONG_MESSAGE_ID = 200

_EXAMPLE_LINES = (
    "field01 12  5 13    30 45 32   10. 10. B1950 DSS1 e    G",
    "N7793   23 57 49.4 -32 35 24.  60. 60. J2000 DSS1 04IN U",
    "NGC253   0 47 34.3 -25 17 32.  45. 45. J2000 DSS2 c    B",
)
_MODE_WORDS = {
    "e": "mode e (plate furthest from the edge)",
    "c": "mode c (closest plate centre)",
    "n": "mode n (list of plates)",
}
_COMPRESSION_WORDS = {"G": "gzip", "B": "bzip2", "X": "xz", "U": "no compression"}


class MailTemporaryFailure(Exception):
    """The message could not be handled now (the database is unreachable). Nothing was
    recorded or answered; the caller must keep the message and try again later."""


@dataclass
class MailOutcome:
    """What became of one message (also recorded as ``inbound``)."""

    outcome: str
    kind: str
    sender: str
    inbound: InboundMail | None = None
    request: Request | None = None
    replied: bool = False
    detail: str = ""

    @property
    def duplicate(self) -> bool:
        return self.outcome == InboundMailOutcome.DUPLICATE


@dataclass
class _Incoming:
    """One message as read, before the database is asked anything."""

    raw: bytes
    kind: str
    route_note: str
    ambiguous: bool  # sent to both service addresses, with nothing to tell which copy this is
    sender: str | None
    subject: str
    message_id: str
    message_id_synthetic: bool
    references: list[str]
    automation: tuple[str, bool] | None
    body: MailBody | None  # None when too large: only the headers were read
    received: datetime

    @property
    def too_large(self) -> bool:
        return self.body is None

    @property
    def silent(self) -> bool:
        """Whether RFC 3834 forbids any reply to this message."""
        return self.automation is not None

    @property
    def dedup_key(self) -> str:
        return hashlib.sha256(f"{self.kind}\0{self.message_id}".encode()).hexdigest()


@dataclass
class _Reply:
    """A reply decided inside the transaction and sent after it commits."""

    to: str
    subject: str
    body: str


@dataclass
class _Outbox:
    """The reply of this message, sent from an on-commit hook registered before any other,
    so that with inline tasks the receipt still precedes the completion message."""

    incoming: _Incoming
    reply: _Reply | None = None
    record_id: int | None = None
    committed: bool = False

    def send(self) -> None:
        self.committed = True
        if self.reply is None:
            return
        message = EmailMessage(
            subject=self.reply.subject,
            body=self.reply.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[self.reply.to],
            headers=_reply_headers(self.incoming),
        )
        try:
            message.send()
        except Exception as exc:  # the request stands; only the reply is lost
            log.exception("reply to %s could not be sent", self.reply.to)
            if self.record_id is not None:
                InboundMail.objects.filter(pk=self.record_id).update(
                    replied=False, detail=f"reply could not be sent: {exc}"[:2000]
                )


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def mail_handle(raw: bytes, *, kind: str | None = None) -> MailOutcome:
    """Handle one RFC 5322 message: record it, act on it, reply when a reply is due.

    Parameters
    ----------
    raw : bytes
        The message as delivered (any line endings).
    kind : {'request', 'delete'} or None
        Force the routing (``ingest_mail --kind``); otherwise the recipient headers decide.

    Raises
    ------
    MailTemporaryFailure
        The database is unreachable: nothing was recorded; keep the message and retry.
    """
    if kind not in (None, InboundMailKind.REQUEST, InboundMailKind.DELETE):
        raise ValueError(f"kind must be 'request' or 'delete', not {kind!r}")
    try:
        try:
            incoming = _read(raw, forced_kind=kind)
            return _dispatch(incoming)
        except TEMPORARY_ERRORS:
            raise
        except Exception as exc:
            log.exception("incoming message could not be handled")
            return _record_failure(raw, exc)
    except TEMPORARY_ERRORS as exc:
        raise MailTemporaryFailure(f"database unavailable: {exc}") from exc


# --------------------------------------------------------------------------------------
# Reading (no database)
# --------------------------------------------------------------------------------------


def _read(raw: bytes, *, forced_kind: str | None) -> _Incoming:
    too_large = len(raw) > settings.DSSPORTAL_MAX_MAIL_BYTES
    if too_large:
        message = mailtext.parse_headers_only(raw)
    else:
        message = message_from_bytes(raw, policy=compat32)
    kind: str
    kind, route_note = mailtext.recipient_kind(
        message,
        request_address=settings.DSSPORTAL_REQUEST_ADDRESS,
        delete_address=settings.DSSPORTAL_DELETE_ADDRESS,
    )
    if forced_kind:
        kind, route_note = forced_kind, f"routed as {forced_kind} by the caller (--kind)"
    ambiguous = kind == "ambiguous"
    if ambiguous:
        kind = InboundMailKind.UNROUTABLE
    sender = mailtext.sender_address(message)
    body = None if too_large else mailtext.mail_body(message)
    received = timezone.now()
    real_id = mailtext.message_id_of(message)
    message_id, synthetic = real_id, False
    if message_id is None:
        day = (mailtext.sent_date(message) or received).astimezone(UTC).date()
        content: str | bytes = _body_bytes(raw)
        if body is not None:
            content = "\0".join(part.text for part in (body.body, *body.attachments))
        message_id = mailtext.synthetic_message_id(sender=sender or "", body=content, day=day)
        synthetic = True
    elif len(message_id) > _LONG_MESSAGE_ID:
        digest = hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:40]
        message_id = f"<{digest}@long-message-id.dssportal.invalid>"
    return _Incoming(
        raw=raw,
        kind=kind,
        route_note=route_note,
        ambiguous=ambiguous,
        sender=sender,
        subject=mailtext.header_text(message, "Subject")[:255],
        message_id=message_id,
        message_id_synthetic=synthetic,
        references=mailtext.references_of(message),
        automation=mailtext.automation_reason(message),
        body=body,
        received=received,
    )


def _body_bytes(raw: bytes) -> bytes:
    for separator in (b"\r\n\r\n", b"\n\n"):
        _head, found, rest = raw.partition(separator)
        if found:
            return rest
    return b""


# --------------------------------------------------------------------------------------
# Acting (one transaction)
# --------------------------------------------------------------------------------------


def _dispatch(incoming: _Incoming) -> MailOutcome:
    outbox = _Outbox(incoming)
    try:
        with transaction.atomic():
            transaction.on_commit(outbox.send)
            outcome = _claim_and_act(incoming, outbox)
    except Exception:
        if not outbox.committed:
            raise
        # The message is recorded and acted on; what failed is work queued after the commit
        # (inline tasks). Retrying the message would change nothing: it is a duplicate now.
        log.exception("work after accepting message %s failed", incoming.message_id)
    log.info(
        "mail from %s (%s, %s): %s",
        incoming.sender or "-",
        incoming.kind,
        incoming.message_id,
        outcome.outcome,
    )
    return outcome


def _claim_and_act(incoming: _Incoming, outbox: _Outbox) -> MailOutcome:
    """Claim the message by its dedup key (a unique index), then act; one transaction."""
    record = _new_record(incoming)
    try:
        with transaction.atomic():
            record.dedup_key = incoming.dedup_key
            record.save()
    except IntegrityError:
        return _duplicate(incoming, record)
    outcome = _act(incoming, record, outbox)
    record.outcome = outcome.outcome
    record.detail = outcome.detail[:10_000]
    record.request = outcome.request
    record.replied = outbox.reply is not None
    record.save()
    outbox.record_id = record.pk
    outcome.inbound = record
    outcome.replied = record.replied
    return outcome


def _new_record(incoming: _Incoming) -> InboundMail:
    limit = settings.DSSPORTAL_MAX_MAIL_BYTES
    return InboundMail(
        message_id=incoming.message_id[:255],
        message_id_synthetic=incoming.message_id_synthetic,
        sender=(incoming.sender or "")[:254],
        kind=incoming.kind,
        subject=incoming.subject,
        size=len(incoming.raw),
        outcome=InboundMailOutcome.FAILED,  # until decided, in the same transaction
        raw=incoming.raw[:limit],
        raw_truncated=len(incoming.raw) > limit,
    )


def _duplicate(incoming: _Incoming, record: InboundMail) -> MailOutcome:
    first = InboundMail.objects.filter(dedup_key=incoming.dedup_key).first()
    record.dedup_key = None
    record.outcome = InboundMailOutcome.DUPLICATE
    record.request = first.request if first else None
    record.user = first.user if first else None
    record.detail = f"same Message-ID as inbound mail #{first.pk}" if first else ""
    record.save()
    return MailOutcome(
        outcome=record.outcome,
        kind=incoming.kind,
        sender=incoming.sender or "",
        inbound=record,
        request=record.request,
        detail=record.detail,
    )


def _act(incoming: _Incoming, record: InboundMail, outbox: _Outbox) -> MailOutcome:
    """Decide what the message is and do it; ``outbox.reply`` is set when a reply is due."""
    result = MailOutcome(outcome="", kind=incoming.kind, sender=incoming.sender or "")
    if incoming.automation is not None and incoming.automation[1]:
        result.outcome = InboundMailOutcome.AUTO_SUBMITTED
        result.detail = f"not read: {incoming.automation[0]}"
        return result
    if incoming.kind == InboundMailKind.UNROUTABLE and not incoming.ambiguous:
        result.outcome, result.detail = InboundMailOutcome.UNROUTABLE, incoming.route_note
        return result
    user = user_for_sender(incoming.sender) if incoming.sender else None
    record.user = user
    if user is None:
        return _stranger(incoming, result, outbox)
    reply: _Reply | None
    if incoming.too_large:
        result.outcome = InboundMailOutcome.TOO_LARGE
        result.detail = f"{len(incoming.raw)} bytes; the limit is {_max_bytes()}"
        reply = _too_large_reply(incoming, user)
    elif incoming.ambiguous:
        result.outcome, result.detail = InboundMailOutcome.UNROUTABLE, incoming.route_note
        reply = _both_addresses_reply(incoming, user)
    elif incoming.kind == InboundMailKind.REQUEST:
        reply = _request(incoming, user, result)
    else:
        reply = _deletion(incoming, user, result)
    if incoming.silent:
        result.detail += f"; no reply ({incoming.automation[0]})" if incoming.automation else ""
    elif reply is not None:
        outbox.reply = reply
    return result


def _max_bytes() -> int:
    return int(settings.DSSPORTAL_MAX_MAIL_BYTES)


def _stranger(incoming: _Incoming, result: MailOutcome, outbox: _Outbox) -> MailOutcome:
    result.outcome = InboundMailOutcome.STRANGER
    if incoming.sender is None:
        result.detail = "From holds no single address; nothing to reply to"
        return result
    result.detail = f"{incoming.sender} is not a verified address of an active user"
    if incoming.silent:
        result.detail += "; no notice (automatic mail)"
        return result
    recent = InboundMail.objects.filter(
        sender=incoming.sender,
        outcome=InboundMailOutcome.STRANGER,
        replied=True,
        received_at__gte=incoming.received - STRANGER_NOTICE_INTERVAL,
    )
    if recent.exists():
        result.detail += "; notice already sent in the last 24 hours"
        return result
    outbox.reply = _stranger_reply(incoming)
    return result


# --------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------


def _request_counts(text: str) -> tuple[int, int]:
    parsed = parse_with_limits(text)
    return len(parsed.fields), len(parsed.lines)


def _request(incoming: _Incoming, user: User, result: MailOutcome) -> _Reply | None:
    assert incoming.body is not None
    source, unread = mailtext.choose_text(incoming.body, _request_counts)
    created = request_create_from_text(
        user=user, text=source.text, source="mail", message_id=incoming.message_id
    )
    result.request = created.request
    if created.duplicate:
        result.outcome = InboundMailOutcome.DUPLICATE
        result.detail = f"request #{created.request.pk} already has this Message-ID"
        return None
    accepted = sum(1 for f in created.fields if f.status != FieldStatus.SKIPPED)
    result.outcome = InboundMailOutcome.ACCEPTED if created.fields else InboundMailOutcome.REJECTED
    result.detail = (
        f"request #{created.request.pk} from {source.label}: {len(created.fields)} field(s), "
        f"{accepted} queued, {len(created.fields) - accepted} skipped for quota, "
        f"{len(created.rejected)} line(s) rejected"
    )
    return _Reply(
        to=user.email,
        subject=_receipt_subject(created),
        body=receipt_text(result=created, source=source, unread=unread),
    )


def _receipt_subject(created: RequestOutcome) -> str:
    pk, n_fields, n_bad = created.request.pk, len(created.fields), len(created.rejected)
    if not n_fields:
        return f"DSS request #{pk}: no valid field, nothing to extract"
    bad = f", {n_bad} line(s) rejected" if n_bad else ""
    return f"DSS request #{pk} received: {n_fields} field(s) accepted{bad}"


def receipt_text(
    *, result: RequestOutcome, source: TextPart, unread: Sequence[TextPart] = ()
) -> str:
    """The receipt of a request: what was accepted, rejected and skipped, and the space."""
    request = result.request
    queued = [f for f in result.fields if f.status != FieldStatus.SKIPPED]
    skipped = [f for f in result.fields if f.status == FieldStatus.SKIPPED]
    when = f"{timezone.localtime(request.received_at, UTC):%Y-%m-%d %H:%M} UTC"
    where = f" (read from {source.label})" if source.label != "the message body" else ""
    out: list[str] = []
    if not result.fields:
        lead = f"Your message of {when} was recorded as DSS request #{request.pk}{where}, but " + (
            "none of its lines is a valid field, so nothing will be extracted."
            if result.rejected
            else "it holds no request list, so nothing will be extracted."
        )
        out += [_fill(lead), ""]
        out += _rejected_section(result.rejected)
        out += _format_help()
    else:
        out += [
            _fill(f"Your list was received as DSS request #{request.pk} on {when}{where}."),
            "",
            _fill(
                f"{len(result.fields)} field(s) accepted"
                + (
                    f" ({len(skipped)} of them skipped for lack of staging space)"
                    if skipped
                    else ""
                )
                + f", {len(result.rejected)} line(s) rejected.",
                indent=2,
            ),
            "",
        ]
        out += _accepted_section(result.fields)
        out += _rejected_section(result.rejected)
        out += _skipped_section(skipped)
        out += _space_section(result)
        out += ["Follow the request on the web:", f"  {request_web_url(request)}", ""]
        if queued:
            out += [
                _fill(
                    "A second message will follow when the images are staged, with the FTP "
                    "and web addresses to fetch them from."
                ),
                "",
            ]
        else:
            out += [_fill("No field will be extracted; a second message will confirm this."), ""]
    out += _notes(source, unread)
    out += _signature()
    return "\n".join(out).rstrip() + "\n"


def _accepted_section(fields: Sequence[Field]) -> list[str]:
    out = ["ACCEPTED FIELDS"]
    for f in fields:
        if f.mode == "n":
            what = "a list of plates by mail, no image"
        else:
            name = f"{f.stem}.fits" + {"G": ".gz", "B": ".bz2", "X": ".xz"}.get(f.compression, "")
            what = f"{name}, about {human_bytes(f.expected_bytes)}"
        mode = f"plate {f.plate_id_asked}" if f.mode == "plate" else _MODE_WORDS[f.mode]
        out.append(f"  line {f.line_no:<4} {f.identifier} -> {what}")
        detail = (
            f"{f.survey}  {f.ra_text} {f.dec_text} ({f.equinox})  "
            f"{f.width_arcmin:g}' x {f.height_arcmin:g}'  {mode}"
        )
        if f.status == FieldStatus.SKIPPED:
            detail += "  [skipped, see below]"
        out.append(_fill(detail, indent=12))
    return [*out, ""]


def _rejected_section(rejected: Sequence[Mapping[str, object]]) -> list[str]:
    if not rejected:
        return []
    out = ["REJECTED LINES (not read; please correct them and send them again)"]
    for entry in rejected:
        text = _printable(str(entry["text"]))
        out.append(_fill(f"line {entry['line']}: {text}", indent=2, subsequent=6))
        out.append(_fill(str(entry["error"]), indent=6))
    return [*out, ""]


def _skipped_section(skipped: Sequence[Field]) -> list[str]:
    if not skipped:
        return []
    out = ["SKIPPED FOR LACK OF STAGING SPACE"]
    for f in skipped:
        out.append(_fill(f"line {f.line_no} ({f.identifier}): {f.message}", indent=2, subsequent=6))
    return [*out, ""]


def _space_section(result: RequestOutcome) -> list[str]:
    this = result.request.expected_bytes
    before = result.used_bytes + result.reserved_bytes - this
    rows = [
        ("expected size of this request", this),
        ("your staging quota", result.quota_bytes),
        ("already used or reserved", before),
        ("free after this request", result.remaining_bytes),
    ]
    out = ["STAGING SPACE (sizes before compression)"]
    out += [f"  {label + ':':<34}{human_bytes(value):>12}" for label, value in rows]
    return [*out, ""]


def _format_help() -> list[str]:
    return [
        "HOW TO WRITE A REQUEST",
        _fill(
            "One field per line, 12 or 13 columns separated by blanks: identifier, R.A. "
            "(h m s), Dec. (d m s), width and height (arcmin), equinox (J2000 or B1950), "
            "survey (DSS1 or DSS2), mode (e, c, n or a PLATE-ID) and, optionally, "
            "compression (G gzip, B bzip2, X xz, U none). For example:"
        ),
        "",
        *_EXAMPLE_LINES,
        "",
        _fill(
            "Lines starting with # are comments; a line holding only -- ends the list. "
            f"Send the list as plain text to {settings.DSSPORTAL_REQUEST_ADDRESS}."
        ),
        "",
    ]


def _notes(source: TextPart, unread: Sequence[TextPart]) -> list[str]:
    notes = []
    if source.quoted_lines:
        notes.append(
            f"{source.quoted_lines} line(s) quoted from an earlier message (starting with "
            "'>') were not read."
        )
    for part in unread:
        if part.text.strip():
            notes.append(f"{part.label[0].upper()}{part.label[1:]} was not read.")
    return [_fill(note) for note in notes] + ([""] if notes else [])


def _signature() -> list[str]:
    return [
        "-- ",
        "DSS archive mail service",
        f"Requests: {settings.DSSPORTAL_REQUEST_ADDRESS}   "
        f"Deletions: {settings.DSSPORTAL_DELETE_ADDRESS}",
        f"{settings.DSSPORTAL_PUBLIC_URL}/",
    ]


# --------------------------------------------------------------------------------------
# Deletion lists
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DeletionLine:
    line_no: int
    name: str
    deleted_bytes: int | None  # None when ignored
    reason: str = ""


def _deletion_counts(text: str) -> tuple[int, int]:
    entries = parse_deletion_list(text)
    return sum(1 for e in entries if e.ok), len(entries)


def _deletion(incoming: _Incoming, user: User, result: MailOutcome) -> _Reply:
    assert incoming.body is not None
    source, unread = mailtext.choose_text(incoming.body, _deletion_counts)
    seen: dict[str, int] = {}
    lines = [_delete_one(entry, user, seen=seen) for entry in parse_deletion_list(source.text)]
    deleted = [line for line in lines if line.deleted_bytes is not None]
    result.outcome = InboundMailOutcome.DELETED
    result.detail = f"{len(deleted)} deleted, {len(lines) - len(deleted)} ignored" + (
        ": " + ", ".join(line.name for line in deleted) if deleted else ""
    )
    return _Reply(
        to=user.email,
        subject=f"DSS staging directories: {len(deleted)} deleted, "
        f"{len(lines) - len(deleted)} ignored",
        body=deletion_text(lines=lines, user=user, source=source, unread=unread),
    )


def _delete_one(entry: DeletionEntry, user: User, *, seen: dict[str, int]) -> _DeletionLine:
    """Act on one line; only a live staging directory of ``user`` is ever touched."""
    name = _printable(entry.name)
    if not entry.ok:
        return _DeletionLine(entry.line_no, name, None, entry.reason or "not a staging name")
    if entry.name in seen:
        return _DeletionLine(entry.line_no, name, None, f"named already on line {seen[entry.name]}")
    seen[entry.name] = entry.line_no
    directory = (
        StagingDirectory.objects.select_for_update().filter(name=entry.name, user=user).first()
    )
    if directory is None:
        return _DeletionLine(
            entry.line_no, name, None, "no staging directory of yours has this name"
        )
    if directory.deleted_at is not None:
        why = "it expired" if directory.deleted_reason == "expired" else directory.deleted_reason
        when = f"{timezone.localtime(directory.deleted_at, UTC):%Y-%m-%d %H:%M} UTC"
        return _DeletionLine(entry.line_no, name, None, f"already deleted on {when} ({why})")
    try:
        deletion = staging_directory_delete(directory=directory, reason="deleted by mail")
    except StagingError as exc:
        log.error("staging directory %s of user %s not deleted: %s", name, user.pk, exc)
        return _DeletionLine(
            entry.line_no, name, None, "could not be deleted; the archive staff have been told"
        )
    return _DeletionLine(entry.line_no, name, deletion.freed_bytes)


def deletion_text(
    *, lines: Sequence[_DeletionLine], user: User, source: TextPart, unread: Sequence[TextPart]
) -> str:
    """The reply to a deletion list: each name deleted (with the space freed) or ignored."""
    deleted = [line for line in lines if line.deleted_bytes is not None]
    ignored = [line for line in lines if line.deleted_bytes is None]
    where = f" (read from {source.label})" if source.label != "the message body" else ""
    out = [_fill(f"Your deletion list was read{where}."), ""]
    if not lines:
        out += [
            _fill(
                "It names no staging directory, so nothing was deleted. Put each "
                "staging-directory name (they look like dss-20261124-abcdefghijklm) on a "
                f"line of its own and send the list to {settings.DSSPORTAL_DELETE_ADDRESS}."
            ),
            "",
        ]
    if deleted:
        out.append("DELETED")
        out += [
            f"  {line.name:<28} freed {human_bytes(line.deleted_bytes or 0)}" for line in deleted
        ]
        out.append("")
    if ignored:
        out.append("IGNORED")
        for line in ignored:
            out.append(_fill(f"line {line.line_no}: {line.name}", indent=2, subsequent=6))
            out.append(_fill(line.reason, indent=6))
        out.append("")
    out += _live_directories(user)
    out += _notes(source, unread)
    out += _signature()
    return "\n".join(out).rstrip() + "\n"


def _live_directories(user: User) -> list[str]:
    live = list(
        StagingDirectory.objects.filter(user=user, deleted_at__isnull=True).order_by("created_at")
    )
    if not live:
        return ["You have no staging directories now.", ""]
    out = ["YOUR STAGING DIRECTORIES NOW"]
    for directory in live[:50]:
        expires = f"{timezone.localtime(directory.expires_at, UTC):%Y-%m-%d}"
        out.append(f"  {directory.name:<28} {human_bytes(directory.bytes):>10}  expires {expires}")
    if len(live) > 50:
        out.append(f"  ... and {len(live) - 50} more")
    return [*out, ""]


# --------------------------------------------------------------------------------------
# Other replies
# --------------------------------------------------------------------------------------


def _sent_phrase(incoming: _Incoming) -> str:
    subject = f' (subject "{incoming.subject[:60]}")' if incoming.subject else ""
    return f"Your message of {incoming.received:%Y-%m-%d %H:%M} UTC{subject}"


def _stranger_reply(incoming: _Incoming) -> _Reply:
    assert incoming.sender is not None
    body = [
        _fill(
            f"{_sent_phrase(incoming)} came from {incoming.sender}, which is not a "
            "registered address of the DSS archive, so nothing in it was read."
        ),
        "",
        _fill(
            "The service is open to registered SMOKA users, and lists are read only from "
            "their registered (verified) e-mail addresses. To register, or to add this "
            "address to your account, visit:"
        ),
        f"  {settings.DSSPORTAL_PUBLIC_URL}/",
        _fill(f"then send your list again to {settings.DSSPORTAL_REQUEST_ADDRESS}."),
        "",
        _fill("This notice is sent at most once a day to an address."),
        "",
        *_signature(),
    ]
    return _Reply(
        to=incoming.sender,
        subject="Your message to the DSS archive was not read (unregistered address)",
        body="\n".join(body) + "\n",
    )


def _too_large_reply(incoming: _Incoming, user: User) -> _Reply:
    body = [
        _fill(
            f"{_sent_phrase(incoming)} is {human_bytes(len(incoming.raw))}; the DSS archive "
            f"reads messages of up to {human_bytes(_max_bytes())}, so nothing in it was read "
            "and no request was made."
        ),
        "",
        _fill(
            "Please send the list as plain text, without pictures or other attachments, "
            f"or split a long list into messages of at most "
            f"{settings.DSSPORTAL_MAX_REQUEST_LINES} lines each."
        ),
        "",
        *_signature(),
    ]
    return _Reply(
        to=user.email,
        subject="Your message to the DSS archive was too large to read",
        body="\n".join(body) + "\n",
    )


def _both_addresses_reply(incoming: _Incoming, user: User) -> _Reply:
    body = [
        _fill(
            f"{_sent_phrase(incoming)} was sent both to the request address "
            f"({settings.DSSPORTAL_REQUEST_ADDRESS}) and to the deletion address "
            f"({settings.DSSPORTAL_DELETE_ADDRESS}), so it was not read: a message must "
            "hold either a request list or a deletion list. Please send it again to one of "
            "the two addresses."
        ),
        "",
        *_signature(),
    ]
    return _Reply(
        to=user.email,
        subject="Your message to the DSS archive was not read (sent to both addresses)",
        body="\n".join(body) + "\n",
    )


def _reply_headers(incoming: _Incoming) -> dict[str, str]:
    """RFC 3834 headers, threaded under the message when it had a real Message-ID."""
    headers = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
    if not incoming.message_id_synthetic:
        references = [*incoming.references[-10:], incoming.message_id]
        headers["In-Reply-To"] = incoming.message_id
        headers["References"] = " ".join(references)
    return headers


# --------------------------------------------------------------------------------------
# Failures and small helpers
# --------------------------------------------------------------------------------------


def _record_failure(raw: bytes, exc: Exception) -> MailOutcome:
    """Keep a message the gate could not handle, for the staff; it holds no dedup key, so
    the same message delivered again is tried again."""
    limit = _max_bytes()
    try:
        message = mailtext.parse_headers_only(raw)
        sender = mailtext.sender_address(message) or ""
        subject = mailtext.header_text(message, "Subject")[:255]
        message_id = (mailtext.message_id_of(message) or "")[:255]
    except Exception:
        sender = subject = message_id = ""
    record = InboundMail.objects.create(
        message_id=message_id,
        sender=sender[:254],
        kind=InboundMailKind.UNROUTABLE,
        subject=subject,
        size=len(raw),
        outcome=InboundMailOutcome.FAILED,
        detail=f"{type(exc).__name__}: {exc}"[:10_000],
        raw=raw[:limit],
        raw_truncated=len(raw) > limit,
    )
    return MailOutcome(
        outcome=record.outcome,
        kind=record.kind,
        sender=sender,
        inbound=record,
        detail=record.detail,
    )


def _printable(text: str, limit: int = 200) -> str:
    """A user line fit to quote: blanks collapsed, control characters escaped, cut short."""
    text = " ".join(text.split())
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _fill(text: str, *, indent: int = 0, subsequent: int | None = None) -> str:
    """Wrap to :data:`WIDTH` columns for a terminal mail client; long words are not cut."""
    return textwrap.fill(
        text,
        width=WIDTH,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent if subsequent is None else subsequent),
        break_long_words=False,
        break_on_hyphens=False,
    )
