"""The mail gate: one incoming message in; a request, a deletion or nothing out; maybe a reply.

:func:`mail_handle` is the one function that handles one message. ``ingest_mail`` (stdin,
Maildir, mbox, IMAP) and any other listener only hand it bytes. It reads the message with
the pure helpers of :mod:`extraction.text.mailtext`, then does, in one transaction: claim
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
- Nobody, for mail written by a machine (RFC 3834 and the usual heuristics, see
  :func:`extraction.text.mailtext.automation_reason`: ``Auto-Submitted``, ``Precedence``
  bulk/junk/list, ``List-Id``, null, MAILER-DAEMON, postmaster or ``-request`` senders,
  reports, the service's own addresses, vacation subjects), which is never acted on
  either; for mail to neither service address, for duplicates and for failures.

Messages without a Message-ID get a synthetic one: a hash of the sender, the text that
was read and the UTC day of the Date header (of arrival without one), so that a message
retried by an MTA still makes one request. A message is the same as an earlier one when
routing, sender and Message-ID agree: another sender's Message-ID never silences it.

Whatever the bytes, :func:`mail_handle` returns an outcome and the message is recorded:
every text stored is made :func:`~extraction.text.safetext.storable` (no NUL, no lone
surrogate), and a fault of the gate itself is recorded as ``failed`` with the reason.

Where the rest lives
--------------------
- :mod:`extraction.mail.incoming`: reading the message (routing, sender, Message-ID, the
  signs of automatic mail), before the database is asked anything.
- :mod:`extraction.mail.replies`: the texts of the replies, and sending them.
- :mod:`extraction.mail.deletion`: acting on a deletion list, and its reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.urls import reverse

from accounts.models import User
from accounts.selectors import user_for_sender
from accounts.throttle import Limit, RateLimited, rate_limit_take
from extraction.mail.deletion import deletion_list_handle
from extraction.mail.incoming import Incoming, incoming_read, max_mail_bytes
from extraction.mail.replies import (
    Reply,
    both_addresses_reply,
    receipt_reply,
    reply_send,
    stranger_reply,
    too_large_reply,
    unreadable_reply,
)
from extraction.models import (
    FieldStatus,
    InboundMail,
    InboundMailKind,
    InboundMailOutcome,
    Request,
)
from extraction.services import queue
from extraction.services.requests import parse_with_limits, request_create_from_text
from extraction.text import mailtext
from extraction.text.safetext import storable

#: How much of a fault's description the record keeps.
_DETAIL_CHARS = 10_000

log = logging.getLogger(__name__)

__all__ = ["MailOutcome", "MailTemporaryFailure", "mail_handle"]

#: Database errors that say "not now" rather than "never": the MTA should keep the message.
TEMPORARY_ERRORS = (OperationalError, InterfaceError)
STRANGER_NOTICE_INTERVAL = timedelta(hours=24)


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
class _Outbox:
    """The reply of this message, sent from an on-commit hook registered before any other,
    so that with inline tasks the receipt still precedes the completion message."""

    incoming: Incoming
    reply: Reply | None = None
    record_id: int | None = None
    committed: bool = False

    def send(self) -> None:
        self.committed = True
        if self.reply is None:
            return
        try:
            reply_send(self.reply, incoming=self.incoming)
        except Exception as exc:  # the request stands; only the reply is lost
            log.exception("reply to %s could not be sent", self.reply.to)
            if self.record_id is not None:
                InboundMail.objects.filter(pk=self.record_id).update(
                    replied=False, detail=storable(f"reply could not be sent: {exc}"[:2000])
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
            incoming = incoming_read(raw, forced_kind=kind)
            return _dispatch(incoming)
        except TEMPORARY_ERRORS:
            raise
        except Exception as exc:
            log.exception("incoming message could not be handled")
            try:
                return _record_failure(raw, exc)
            except TEMPORARY_ERRORS:
                raise
            except Exception:
                log.exception("the failure of an incoming message could not be recorded")
                return MailOutcome(
                    outcome=InboundMailOutcome.FAILED,
                    kind=InboundMailKind.UNROUTABLE,
                    sender="",
                    detail=f"{type(exc).__name__}; the message could not even be recorded",
                )
    except TEMPORARY_ERRORS as exc:
        raise MailTemporaryFailure(f"database unavailable: {exc}") from exc


def mail_gate_warm() -> None:
    """Load, once, in a long-running listener (LMTP, IMAP), what its first message would
    otherwise load inside its transaction, delaying the commit and so the first task by
    ~0.4 s: the URL configuration (a receipt links the request's page) and the broker's
    client (``queue.broker_problem`` asks it once)."""
    reverse("request-list")
    queue.broker_problem()


# --------------------------------------------------------------------------------------
# Acting (one transaction)
# --------------------------------------------------------------------------------------


def _dispatch(incoming: Incoming) -> MailOutcome:
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


def _claim_and_act(incoming: Incoming, outbox: _Outbox) -> MailOutcome:
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
    record.detail = storable(outcome.detail[:_DETAIL_CHARS])
    record.request = outcome.request
    record.replied = outbox.reply is not None
    record.save()
    outbox.record_id = record.pk
    outcome.inbound = record
    outcome.replied = record.replied
    return outcome


def _new_record(incoming: Incoming) -> InboundMail:
    limit = settings.DSSPORTAL_MAX_MAIL_BYTES
    return InboundMail(
        message_id=storable(incoming.message_id[:255]),
        message_id_synthetic=incoming.message_id_synthetic,
        sender=storable((incoming.sender or "")[:254]),
        kind=incoming.kind,
        subject=storable(incoming.subject[:255]),
        size=len(incoming.raw),
        outcome=InboundMailOutcome.FAILED,  # until decided, in the same transaction
        raw=incoming.raw[:limit],
        raw_truncated=len(incoming.raw) > limit,
    )


def _duplicate(incoming: Incoming, record: InboundMail) -> MailOutcome:
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


def _act(incoming: Incoming, record: InboundMail, outbox: _Outbox) -> MailOutcome:
    """Decide what the message is and do it; ``outbox.reply`` is set when a reply is due."""
    result = MailOutcome(outcome="", kind=incoming.kind, sender=incoming.sender or "")
    if incoming.automation is not None:
        result.outcome = InboundMailOutcome.AUTO_SUBMITTED
        result.detail = f"not read, not answered: {incoming.automation}"
        return result
    if incoming.kind == InboundMailKind.UNROUTABLE and not incoming.ambiguous:
        result.outcome, result.detail = InboundMailOutcome.UNROUTABLE, incoming.route_note
        return result
    if incoming.authenticated == "fail" and settings.DSSPORTAL_MAIL_AUTH_FAILURE != "accept":
        held = settings.DSSPORTAL_MAIL_AUTH_FAILURE == "hold"
        result.outcome = InboundMailOutcome.HELD if held else InboundMailOutcome.REFUSED
        result.detail = (
            f"not acted on, not answered: From {incoming.sender or '-'} failed "
            f"authentication ({incoming.authentication_note})"
        )
        return result
    user = user_for_sender(incoming.sender) if incoming.sender else None
    record.user = user
    if user is None:
        return _stranger(incoming, result, outbox)
    try:
        rate_limit_take(key=f"mailfrom:{user.pk}", limit=_sender_limit())
    except RateLimited as exc:
        result.outcome = InboundMailOutcome.RATE_LIMITED
        result.detail = f"not acted on, not answered: {exc}"
        return result
    reply: Reply | None
    if incoming.unreadable is not None:
        result.outcome = InboundMailOutcome.UNREADABLE
        result.detail = incoming.unreadable
        reply = unreadable_reply(incoming, user)
    elif incoming.too_large:
        result.outcome = InboundMailOutcome.TOO_LARGE
        result.detail = f"{len(incoming.raw)} bytes; the limit is {max_mail_bytes()}"
        reply = too_large_reply(incoming, user)
    elif incoming.ambiguous:
        result.outcome, result.detail = InboundMailOutcome.UNROUTABLE, incoming.route_note
        reply = both_addresses_reply(incoming, user)
    elif incoming.kind == InboundMailKind.REQUEST:
        reply = _request(incoming, user, result)
    else:
        reply = _deletion(incoming, user, result)
    outbox.reply = _within_reply_limit(reply, result)
    return result


def _sender_limit() -> Limit:
    return Limit(
        int(settings.DSSPORTAL_MAIL_PER_SENDER_PER_HOUR),
        timedelta(hours=1),
        "more messages from this sender in the last hour than the archive acts on.",
    )


def _within_reply_limit(reply: Reply | None, result: MailOutcome) -> Reply | None:
    """The reply, unless its address had its hourly number of replies (whoever's mail
    caused them: forged messages must not make the archive flood an address)."""
    if reply is None:
        return None
    limit = Limit(
        int(settings.DSSPORTAL_MAIL_REPLIES_PER_ADDRESS_PER_HOUR),
        timedelta(hours=1),
        "the address had its hourly number of replies.",
    )
    try:
        rate_limit_take(key="mailreply:" + reply.to.casefold()[:80], limit=limit)
    except RateLimited as exc:
        result.detail += f"; not answered: {exc}"
        return None
    return reply


def _stranger(incoming: Incoming, result: MailOutcome, outbox: _Outbox) -> MailOutcome:
    result.outcome = InboundMailOutcome.STRANGER
    if incoming.sender is None:
        result.detail = "From holds no single address; nothing to reply to"
        return result
    result.detail = f"{incoming.sender} is not a verified address of an active user"
    recent = InboundMail.objects.filter(
        sender=incoming.sender,
        outcome=InboundMailOutcome.STRANGER,
        replied=True,
        received_at__gte=incoming.received - STRANGER_NOTICE_INTERVAL,
    )
    if recent.exists():
        result.detail += "; notice already sent in the last 24 hours"
        return result
    outbox.reply = stranger_reply(incoming)
    return result


# --------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------


def _request_counts(text: str) -> tuple[int, int]:
    parsed = parse_with_limits(text)
    return len(parsed.fields), len(parsed.lines)


def _request(incoming: Incoming, user: User, result: MailOutcome) -> Reply | None:
    assert incoming.body is not None
    source, unread = mailtext.choose_text(incoming.body, _request_counts)
    if source.copied_lines and not _request_counts(source.text)[0]:
        # Nothing to serve but a copy of our own message: a responder that quoted a
        # receipt without marking itself (a human adds lines above it). Answering it
        # would start a loop.
        result.outcome = InboundMailOutcome.AUTO_SUBMITTED
        result.detail = (
            "not read, not answered: holds a copy of a message of the archive and no valid "
            "field of its own (taken for an automatic reply)"
        )
        return None
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
        f"{created.request.n_rejected} line(s) rejected"
    )
    return receipt_reply(created=created, source=source, unread=unread, to=user.email)


# --------------------------------------------------------------------------------------
# Deletion lists
# --------------------------------------------------------------------------------------


def _deletion(incoming: Incoming, user: User, result: MailOutcome) -> Reply:
    """Act on a deletion list, or, unless its From passed authentication (or the site acts
    on any mail, ``DSSPORTAL_MAIL_DELETION=any``), only reply with the web links that
    delete each named directory after the owner confirms: a forged list deletes nothing."""
    assert incoming.body is not None
    act = incoming.authenticated == "pass" or settings.DSSPORTAL_MAIL_DELETION == "any"
    result.detail, reply = deletion_list_handle(body=incoming.body, user=user, act=act)
    result.outcome = InboundMailOutcome.DELETED
    return reply


# --------------------------------------------------------------------------------------
# Failures
# --------------------------------------------------------------------------------------


def _record_failure(raw: bytes, exc: Exception) -> MailOutcome:
    """Keep a message the gate could not handle, for the staff; it holds no dedup key, so
    the same message delivered again is tried again. What is read of its headers is
    best-effort: when even that fails, the record keeps the bytes and the reason."""
    limit = max_mail_bytes()
    try:
        message = mailtext.parse_headers_only(raw)
        sender = mailtext.sender_address(message) or ""
        subject = mailtext.header_text(message, "Subject")
        message_id = mailtext.message_id_of(message) or ""
    except Exception:
        sender = subject = message_id = ""
    try:
        detail = f"{type(exc).__name__}: {exc}"
    except Exception:  # an exception whose text cannot be shown
        detail = type(exc).__name__
    with transaction.atomic():  # a savepoint: a failed insert leaves the connection usable
        record = InboundMail.objects.create(
            message_id=storable(message_id[:255]),
            sender=storable(sender[:254]),
            kind=InboundMailKind.UNROUTABLE,
            subject=storable(subject[:255]),
            size=len(raw),
            outcome=InboundMailOutcome.FAILED,
            detail=storable(detail[:_DETAIL_CHARS]),
            raw=raw[:limit],
            raw_truncated=len(raw) > limit,
        )
    return MailOutcome(
        outcome=record.outcome,
        kind=record.kind,
        sender=record.sender,
        inbound=record,
        detail=record.detail,
    )
