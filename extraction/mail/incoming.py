"""One incoming message as the mail gate reads it, before the database is asked anything.

:func:`incoming_read` turns the raw bytes into an :class:`Incoming`: its routing (request,
deletion, both or neither service address), sender, Message-ID (a synthetic one when it
has none, a hash of an overlong or unprintable one), the signs of automatic mail and,
unless the message is larger than ``DSSPORTAL_MAX_MAIL_BYTES`` or its MIME structure is
refused, its texts. Whatever the bytes, reading never raises and every text it returns
can be stored and quoted. The parsing itself lives in the pure helpers of
:mod:`extraction.text.mailtext`; this module applies the settings and the clock.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from django.conf import settings
from django.utils import timezone

from extraction.models import InboundMailKind
from extraction.text import mailtext
from extraction.text.authresults import from_domain_verdict
from extraction.text.mailtext import MailBody

__all__ = ["OWN_OPENINGS", "Incoming", "incoming_read", "max_mail_bytes", "own_addresses"]

#: How every message of the service starts (:mod:`extraction.mail.replies`, the completion
#: message of :mod:`extraction.services.notify`): a text holding one of these unquoted is a
#: copy of our own mail, read only above it. ("Your message of 20" is followed by a date.)
OWN_OPENINGS = (
    "Your list was received as DSS request #",
    "Your message of 20",
    "Your deletion list was read",
    "Your DSS request #",
)

#: A Message-ID longer than this is replaced by a hash of it (it must fit the record).
_LONG_MESSAGE_ID = 200
#: What a Message-ID may hold to be kept as written: printable ASCII, no blank.
_PRINTABLE_ASCII = re.compile(r"[!-~]+")


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
    automation: str | None  # why it was written by a machine: never acted on nor answered
    body: MailBody | None  # None when too large or unreadable: only the headers were read
    received: datetime
    unreadable: str | None = None  # why the MIME structure was not read
    #: Whether the From domain was authenticated by the site's MTA: "pass", "fail", "none"
    #: (see :mod:`extraction.text.authresults`), or "unchecked" when the site trusts no
    #: authserv-id (``DSSPORTAL_MAIL_AUTHSERV_ID`` empty); and what that rests on.
    authenticated: str = "unchecked"
    authentication_note: str = ""

    @property
    def too_large(self) -> bool:
        return self.body is None and self.unreadable is None

    @property
    def threadable(self) -> bool:
        """Whether a reply may name the Message-ID: not one the gate made up or hashed."""
        return not self.message_id.endswith(".dssportal.invalid>")

    @property
    def dedup_key(self) -> str:
        """The same message: same routing, same sender and same Message-ID. The sender is
        part of it so that a stranger who sends a Message-ID first cannot silence (or take
        over) a user's later message carrying it."""
        key = f"{self.kind}\0{self.sender or ''}\0{self.message_id}"
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def incoming_read(raw: bytes, *, forced_kind: str | None) -> Incoming:
    """Read ``raw``; ``forced_kind`` (``ingest_mail --kind``) overrides the recipients."""
    too_large = len(raw) > settings.DSSPORTAL_MAX_MAIL_BYTES
    unreadable = None if too_large else mailtext.structure_problem(raw)
    if too_large or unreadable:
        message = mailtext.parse_headers_only(raw)
    else:
        try:
            message = message_from_bytes(raw, policy=compat32)
        except RecursionError:  # nesting the count of structure_problem did not see
            unreadable = "its parts are nested too deeply to be read"
            message = mailtext.parse_headers_only(raw)
    kind: str
    kind, route_note = mailtext.kind_from_headers(
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
    body = None
    if not (too_large or unreadable):
        body = mailtext.mail_body(message, own_openings=OWN_OPENINGS)
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
    elif len(message_id) > _LONG_MESSAGE_ID or not _PRINTABLE_ASCII.fullmatch(message_id):
        # Kept as a hash: it must fit the record, and it is copied into reply headers.
        digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        message_id = f"<{digest}@long-message-id.dssportal.invalid>"
    authenticated, authentication_note = _authentication(message, sender)
    return Incoming(
        authenticated=authenticated,
        authentication_note=authentication_note,
        raw=raw,
        kind=kind,
        route_note=route_note,
        ambiguous=ambiguous,
        sender=sender,
        subject=mailtext.header_text(message, "Subject")[:255],
        message_id=message_id,
        message_id_synthetic=synthetic,
        references=mailtext.references_of(message),
        automation=mailtext.automation_reason(message, own_addresses=own_addresses()),
        body=body,
        received=received,
        unreadable=unreadable,
    )


def _authentication(message: Message, sender: str | None) -> tuple[str, str]:
    trusted_id = str(settings.DSSPORTAL_MAIL_AUTHSERV_ID)
    if not trusted_id:
        return "unchecked", "no trusted authserv-id configured"
    if sender is None:
        return "none", "no single From address"
    return from_domain_verdict(
        mailtext.header_values(message, "Authentication-Results"),
        trusted_id=trusted_id,
        from_domain=sender.rpartition("@")[2],
    )


def own_addresses() -> tuple[str, ...]:
    """The addresses the service sends from or is reached at: mail from them is a loop."""
    return (
        settings.DSSPORTAL_REQUEST_ADDRESS,
        settings.DSSPORTAL_DELETE_ADDRESS,
        settings.DEFAULT_FROM_EMAIL,
        settings.SERVER_EMAIL,
    )


def _body_bytes(raw: bytes) -> bytes:
    for separator in (b"\r\n\r\n", b"\n\n"):
        _head, found, rest = raw.partition(separator)
        if found:
            return rest
    return b""
