"""One incoming message as the mail gate reads it, before the database is asked anything.

:func:`incoming_read` turns the raw bytes into an :class:`Incoming`: its routing (request,
deletion, both or neither service address), sender, Message-ID (a synthetic one when it
has none, a hash of an overlong one), the RFC 3834 signs of automatic mail and, unless
the message is larger than ``DSSPORTAL_MAX_MAIL_BYTES``, its texts. The parsing itself
lives in the pure helpers of :mod:`extraction.core.mailtext`; this module applies the
settings and the clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import compat32

from django.conf import settings
from django.utils import timezone

from extraction.core import mailtext
from extraction.core.mailtext import MailBody
from extraction.models import InboundMailKind

__all__ = ["Incoming", "incoming_read", "max_mail_bytes"]

#: A Message-ID longer than this is replaced by a hash of it (it must fit the record).
_LONG_MESSAGE_ID = 200


def max_mail_bytes() -> int:
    """The largest message read in full, in bytes (``DSSPORTAL_MAX_MAIL_BYTES``)."""
    return int(settings.DSSPORTAL_MAX_MAIL_BYTES)


@dataclass
class Incoming:
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


def incoming_read(raw: bytes, *, forced_kind: str | None) -> Incoming:
    """Read ``raw``; ``forced_kind`` (``ingest_mail --kind``) overrides the recipients."""
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
    return Incoming(
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
