"""The replies of the mail gate: what each says, decided here, written in templates.

Every reply is a mail of :mod:`dssportal.infra.emails`: its subject and body are the templates
``templates/emails/<name>-subject.txt`` and ``<name>-body-text.txt``, wrapped for a
terminal mail client, the user's own lines quoted back fit to print (the ``printable``
filter: control and bidi characters removed, cut short), and signed with the two service
addresses. Rejected lines are listed up to ``DSSPORTAL_MAX_LISTED_ERRORS`` with a count of
the rest, and the sending helper strips control characters from every body once more. The
gate (:mod:`extraction.mail.gate`) decides which reply is due inside its transaction and
calls :func:`reply_send` after the commit; the RFC 3834 headers are shared with the
completion message (:mod:`extraction.services.notify`). The reply to a deletion list is
decided by :mod:`extraction.mail.deletion`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accounts.models import User
from dssportal.infra import emails
from extraction.core.surveys import (
    compressions_text,
    output_file_name,
    survey_help,
    survey_tokens_text,
)
from extraction.mail.incoming import Incoming, max_mail_bytes
from extraction.models import Field, FieldStatus
from extraction.services.notify import auto_reply_headers, request_web_url
from extraction.services.requests import RequestOutcome, rejected_listing
from extraction.text.mailtext import TextPart
from extraction.text.requestlist import example_lines_text
from extraction.text.safetext import Listing, listing

__all__ = [
    "Reply",
    "both_addresses_reply",
    "reading_context",
    "receipt_reply",
    "reply_send",
    "stranger_reply",
    "too_large_reply",
    "unreadable_reply",
]

#: How many unread texts (attachments) a reply names; the rest are counted.
_UNREAD_LISTED = 5
#: How many accepted (and skipped) fields a receipt lists; the rest are counted and the
#: request page lists them all. A bound, so that a receipt stays small whatever the list:
#: 2,000 valid lines echoed one by one made a 67 kB mail a 292 kB receipt.
RECEIPT_FIELDS_LISTED = 20


@dataclass
class Reply:
    """A reply decided inside the transaction and sent after it commits: the mail ``name``
    of :mod:`dssportal.infra.emails` with its facts (``context``, read in memory only)."""

    to: str
    name: str
    context: Mapping[str, Any] = field(default_factory=dict)


def reply_send(reply: Reply, *, incoming: Incoming) -> None:
    """Send ``reply`` to the message ``incoming``, with the RFC 3834 headers."""
    emails.send(reply.name, to=reply.to, context=reply.context, headers=_reply_headers(incoming))


def _reply_headers(incoming: Incoming) -> dict[str, str]:
    """RFC 3834 headers, threaded under the message when it had a real Message-ID."""
    return auto_reply_headers(
        in_reply_to=incoming.message_id if incoming.threadable else None,
        references=incoming.references[-10:],
    )


@dataclass(frozen=True)
class _Accepted:
    field: Field
    file_name: str
    skipped: bool


def receipt_reply(
    *, created: RequestOutcome, source: TextPart, unread: Sequence[TextPart], to: str
) -> Reply:
    """The receipt of the request ``created`` from the text ``source``, to ``to``: what was
    accepted, rejected and skipped, and the staging space."""
    request = created.request
    skipped = [f for f in created.fields if f.status == FieldStatus.SKIPPED]
    accepted = [
        _Accepted(f, output_file_name(f.stem, f.compression), f.status == FieldStatus.SKIPPED)
        for f in created.fields
    ]
    context = {
        "request": request,
        "request_url": request_web_url(request),
        "accepted": listing(accepted, limit=RECEIPT_FIELDS_LISTED),
        "skipped": listing(skipped, limit=RECEIPT_FIELDS_LISTED),
        "queued": len(skipped) < len(created.fields),
        "rejected": rejected_listing(created.rejected),
        "space": {
            "this": request.expected_bytes,
            "quota": created.quota_bytes,
            "before": created.used_bytes + created.reserved_bytes - request.expected_bytes,
            "remaining": created.remaining_bytes,
        },
        "survey_tokens": survey_tokens_text(),
        "survey_help": survey_help(),
        "compressions": compressions_text(),
        "example_lines": example_lines_text(),
        **reading_context(source, unread),
    }
    return Reply(to=to, name="receipt", context=context)


def stranger_reply(incoming: Incoming) -> Reply:
    assert incoming.sender is not None
    return Reply(to=incoming.sender, name="stranger", context={"incoming": incoming})


def too_large_reply(incoming: Incoming, user: User) -> Reply:
    context = {"incoming": incoming, "size": len(incoming.raw), "limit": max_mail_bytes()}
    return Reply(to=user.email, name="too-large", context=context)


def unreadable_reply(incoming: Incoming, user: User) -> Reply:
    return Reply(to=user.email, name="unreadable", context={"incoming": incoming})


def both_addresses_reply(incoming: Incoming, user: User) -> Reply:
    return Reply(to=user.email, name="both-addresses", context={"incoming": incoming})


def reading_context(source: TextPart, unread: Sequence[TextPart]) -> dict[str, object]:
    """What ``emails/_reading_notes.txt`` needs: the text read (``source``: its label,
    quoted and copied lines), and the other texts, not read (those holding any text)."""
    unread_texts = [part for part in unread if part.text.strip()]
    unread_listed: Listing[TextPart] = listing(unread_texts, limit=_UNREAD_LISTED)
    read_from = source.label if source.label != "the message body" else ""
    return {"source": source, "unread": unread_listed, "read_from": read_from}
