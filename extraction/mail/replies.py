"""The replies of the mail gate: their plain-text bodies, and sending them.

Every reply is written for an astronomer reading it in a terminal mail client: wrapped to
:data:`WIDTH` columns, the user's own lines quoted back fit to print, and signed with the
two service addresses. Anything copied from the message into a reply goes through
:func:`printable` (control and bidi characters removed, cut short), rejected lines are
listed up to ``DSSPORTAL_MAX_LISTED_ERRORS`` with a count of the rest, and the sending
helper strips control characters from every body once more. The gate
(:mod:`extraction.mail.gate`) decides which reply is due inside its transaction and calls
:func:`reply_send` after the commit; the RFC 3834 headers and the sending itself are
shared with the completion message (:mod:`extraction.services.notify`). The reply to a
deletion list is written by :mod:`extraction.mail.deletion`, with the helpers at the end
of this module.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from extraction.core.mailtext import TextPart
from extraction.core.safetext import clip, listing, quotable
from extraction.core.surveys import output_file_name, survey_help, survey_tokens_text
from extraction.core.textformat import human_bytes
from extraction.mail.incoming import Incoming, max_mail_bytes
from extraction.models import Field, FieldStatus
from extraction.services.notify import auto_reply_headers, auto_reply_send, request_web_url
from extraction.services.requests import RequestOutcome, rejected_listing

__all__ = [
    "WIDTH",
    "Reply",
    "both_addresses_reply",
    "fill",
    "printable",
    "reading_notes",
    "receipt_reply",
    "receipt_text",
    "reply_send",
    "signature",
    "stranger_reply",
    "too_large_reply",
    "unreadable_reply",
]

WIDTH = 72
#: How many unread texts (attachments) a reply names; the rest are counted.
_UNREAD_LISTED = 5

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


@dataclass
class Reply:
    """A reply decided inside the transaction and sent after it commits."""

    to: str
    subject: str
    body: str


def reply_send(reply: Reply, *, incoming: Incoming) -> None:
    """Send ``reply`` to the message ``incoming``, with the RFC 3834 headers."""
    auto_reply_send(
        to=reply.to, subject=reply.subject, body=reply.body, headers=_reply_headers(incoming)
    )


def _reply_headers(incoming: Incoming) -> dict[str, str]:
    """RFC 3834 headers, threaded under the message when it had a real Message-ID."""
    return auto_reply_headers(
        in_reply_to=incoming.message_id if incoming.threadable else None,
        references=incoming.references[-10:],
    )


# --------------------------------------------------------------------------------------
# The receipt of a request
# --------------------------------------------------------------------------------------


def receipt_reply(
    *, created: RequestOutcome, source: TextPart, unread: Sequence[TextPart], to: str
) -> Reply:
    """The receipt of the request ``created`` from the text ``source``, to ``to``."""
    return Reply(
        to=to,
        subject=_receipt_subject(created),
        body=receipt_text(result=created, source=source, unread=unread),
    )


def _receipt_subject(created: RequestOutcome) -> str:
    pk, n_fields, n_bad = created.request.pk, len(created.fields), created.request.n_rejected
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
        out += [fill(lead), ""]
        out += _rejected_section(result.rejected)
        out += _format_help()
    else:
        out += [
            fill(f"Your list was received as DSS request #{request.pk} on {when}{where}."),
            "",
            fill(
                f"{len(result.fields)} field(s) accepted"
                + (
                    f" ({len(skipped)} of them skipped for lack of staging space)"
                    if skipped
                    else ""
                )
                + f", {request.n_rejected} line(s) rejected.",
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
                fill(
                    "A second message will follow when the images are staged, with the FTP "
                    "and web addresses to fetch them from."
                ),
                "",
            ]
        else:
            out += [fill("No field will be extracted; a second message will confirm this."), ""]
    out += reading_notes(source, unread)
    out += signature()
    return "\n".join(out).rstrip() + "\n"


def _accepted_section(fields: Sequence[Field]) -> list[str]:
    out = ["ACCEPTED FIELDS"]
    for f in fields:
        if f.mode == "n":
            what = "a list of plates by mail, no image"
        else:
            name = output_file_name(f.stem, f.compression)
            what = f"{name}, about {human_bytes(f.expected_bytes)}"
        mode = f"plate {f.plate_id_asked}" if f.mode == "plate" else _MODE_WORDS[f.mode]
        out.append(f"  line {f.line_no:<4} {printable(f.identifier)} -> {what}")
        detail = (
            f"{f.survey}  {f.ra_text} {f.dec_text} ({f.equinox})  "
            f"{f.width_arcmin:g}' x {f.height_arcmin:g}'  {mode}"
        )
        if f.status == FieldStatus.SKIPPED:
            detail += "  [skipped, see below]"
        out.append(fill(detail, indent=12))
    return [*out, ""]


def _rejected_section(rejected: Sequence[Mapping[str, object]]) -> list[str]:
    if not rejected:
        return []
    listed = rejected_listing(rejected)
    out = ["REJECTED LINES (not read; please correct them and send them again)"]
    for entry in listed.shown:
        text = printable(str(entry["text"]))
        out.append(fill(f"line {entry['line']}: {text}", indent=2, subsequent=6))
        out.append(fill(printable(str(entry["error"]), limit=400), indent=6))
    if listed.more:
        out.append(
            fill(
                f"... and {listed.more} more rejected line(s), not listed here; the request "
                "page lists the first ones too. Please check the whole list before sending it "
                "again.",
                indent=2,
            )
        )
    return [*out, ""]


def _skipped_section(skipped: Sequence[Field]) -> list[str]:
    if not skipped:
        return []
    out = ["SKIPPED FOR LACK OF STAGING SPACE"]
    for f in skipped:
        out.append(fill(f"line {f.line_no} ({f.identifier}): {f.message}", indent=2, subsequent=6))
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
        fill(
            "One field per line, 12 or 13 columns separated by blanks: identifier, R.A. "
            "(h m s), Dec. (d m s), width and height (arcmin), equinox (J2000 or B1950), "
            f"survey ({survey_tokens_text()}), mode (e, c, n or a PLATE-ID) and, "
            "optionally, compression (G gzip, B bzip2, X xz, U none). For example:"
        ),
        "",
        *_EXAMPLE_LINES,
        "",
        fill(
            "Lines starting with # are comments; a line holding only -- ends the list. "
            f"Send the list as plain text to {settings.DSSPORTAL_REQUEST_ADDRESS}."
        ),
        "",
        fill(survey_help()),
        fill(
            "Files are named after the identifier: characters other than letters, digits "
            "and . _ + - become _, a leading - or . becomes _, and an identifier repeated "
            "(ignoring case) gets _2, _3 ...; then .fits (.gz, .bz2, .xz) for an image, "
            ".plates.txt for a plate list."
        ),
        "",
    ]


# --------------------------------------------------------------------------------------
# Other replies
# --------------------------------------------------------------------------------------


def _sent_phrase(incoming: Incoming) -> str:
    subject = f' (subject "{printable(incoming.subject, 60)}")' if incoming.subject else ""
    return f"Your message of {incoming.received:%Y-%m-%d %H:%M} UTC{subject}"


def stranger_reply(incoming: Incoming) -> Reply:
    assert incoming.sender is not None
    body = [
        fill(
            f"{_sent_phrase(incoming)} came from {incoming.sender}, which is not a "
            "registered address of the DSS archive, so nothing in it was read."
        ),
        "",
        fill(
            "The service is open to registered SMOKA users, and lists are read only from "
            "their registered (verified) e-mail addresses. To register, or to add this "
            "address to your account, visit:"
        ),
        f"  {settings.DSSPORTAL_PUBLIC_URL}{reverse('register')}  (new users)",
        f"  {settings.DSSPORTAL_PUBLIC_URL}{reverse('account')}  (another address)",
        fill(f"then send your list again to {settings.DSSPORTAL_REQUEST_ADDRESS}."),
        "",
        fill("This notice is sent at most once a day to an address."),
        "",
        *signature(),
    ]
    return Reply(
        to=incoming.sender,
        subject="Your message to the DSS archive was not read (unregistered address)",
        body="\n".join(body) + "\n",
    )


def _notice(user: User, subject: str, *paragraphs: str) -> Reply:
    """A short reply to a registered sender: filled paragraphs, then the signature."""
    body: list[str] = []
    for paragraph in paragraphs:
        body += [fill(paragraph), ""]
    return Reply(to=user.email, subject=subject, body="\n".join([*body, *signature()]) + "\n")


def too_large_reply(incoming: Incoming, user: User) -> Reply:
    return _notice(
        user,
        "Your message to the DSS archive was too large to read",
        f"{_sent_phrase(incoming)} is {human_bytes(len(incoming.raw))}; the DSS archive "
        f"reads messages of up to {human_bytes(max_mail_bytes())}, so nothing in it was read "
        "and no request was made.",
        "Please send the list as plain text, without pictures or other attachments, "
        f"or split a long list into messages of at most "
        f"{settings.DSSPORTAL_MAX_REQUEST_LINES} lines each.",
    )


def unreadable_reply(incoming: Incoming, user: User) -> Reply:
    return _notice(
        user,
        "Your message to the DSS archive could not be read",
        f"{_sent_phrase(incoming)} could not be read: {incoming.unreadable}. Nothing in "
        "it was read and no request was made.",
        "Please send the list as plain text in the body of a new message (not forwarded, "
        f"without attachments) to {settings.DSSPORTAL_REQUEST_ADDRESS}.",
    )


def both_addresses_reply(incoming: Incoming, user: User) -> Reply:
    return _notice(
        user,
        "Your message to the DSS archive was not read (sent to both addresses)",
        f"{_sent_phrase(incoming)} was sent both to the request address "
        f"({settings.DSSPORTAL_REQUEST_ADDRESS}) and to the deletion address "
        f"({settings.DSSPORTAL_DELETE_ADDRESS}), so it was not read: a message must "
        "hold either a request list or a deletion list. Please send it again to one of "
        "the two addresses.",
    )


# --------------------------------------------------------------------------------------
# Shared by every reply
# --------------------------------------------------------------------------------------


def reading_notes(source: TextPart, unread: Sequence[TextPart]) -> list[str]:
    """Notes on what of the message was not read: quoted lines, other texts."""
    notes = []
    if source.quoted_lines:
        notes.append(
            f"{source.quoted_lines} line(s) quoted from an earlier message (starting with "
            "'>') were not read."
        )
    if source.copied_lines:
        notes.append(
            f"{source.copied_lines} line(s) copied from a message of the DSS archive were not read."
        )
    unread_texts = [part for part in unread if part.text.strip()]
    listed = listing(unread_texts, limit=_UNREAD_LISTED)
    for part in listed.shown:
        notes.append(f"{part.label[0].upper()}{part.label[1:]} was not read.")
    if listed.more:
        notes.append(f"{listed.more} other attached text(s) were not read.")
    return [fill(note) for note in notes] + ([""] if notes else [])


def signature() -> list[str]:
    """The signature of every reply: the service and its two addresses."""
    return [
        "-- ",
        "DSS archive mail service",
        f"Requests: {settings.DSSPORTAL_REQUEST_ADDRESS}   "
        f"Deletions: {settings.DSSPORTAL_DELETE_ADDRESS}",
        f"{settings.DSSPORTAL_PUBLIC_URL}/",
    ]


def printable(text: str, limit: int = 200) -> str:
    """A user's text fit to quote: control and bidi characters (ESC, U+202E, NUL ...)
    removed, blanks collapsed, cut short."""
    return clip(" ".join(quotable(text).split()), limit)


def fill(text: str, *, indent: int = 0, subsequent: int | None = None) -> str:
    """Wrap to :data:`WIDTH` columns for a terminal mail client; long words are not cut."""
    return textwrap.fill(
        text,
        width=WIDTH,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent if subsequent is None else subsequent),
        break_long_words=False,
        break_on_hyphens=False,
    )
