"""Messages to users: the completion message of a request (plain text, for a mail client).

Also the two pieces every automatic message shares with the replies of the mail gate
(:mod:`extraction.mail.replies`): its RFC 3834 headers and how it is sent.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse

from extraction.core.safetext import quotable
from extraction.core.textformat import human_bytes
from extraction.models import Field, FieldStatus, Request, RequestStatus, StagingDirectory
from extraction.services.links import staging_ftp_url, staging_web_url


def request_web_url(request: Request) -> str:
    return f"{settings.DSSPORTAL_PUBLIC_URL}{reverse('request-detail', args=[request.pk])}"


def auto_reply_headers(
    *, in_reply_to: str | None, references: Sequence[str] = ()
) -> dict[str, str]:
    """RFC 3834 headers of an automatic reply.

    Threaded under ``in_reply_to`` when there is one: ``References`` is ``references``
    (the thread that message was part of) followed by ``in_reply_to``.
    """
    headers = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
    if in_reply_to:
        headers["In-Reply-To"] = in_reply_to
        headers["References"] = " ".join([*references, in_reply_to])
    return headers


def reply_headers(request: Request) -> dict[str, str]:
    """RFC 3834 headers of an automatic reply, threaded under the user's message if any."""
    # Ids the mail gate made up (no Message-ID, or one too long to store) end in
    # ".dssportal.invalid>" and name no message to thread under.
    threadable = request.message_id and not request.message_id.endswith(".dssportal.invalid>")
    return auto_reply_headers(in_reply_to=request.message_id if threadable else None)


def completion_message_id(request: Request) -> str:
    """The same Message-ID every time the same completion mail is sent (it may be sent again
    after a crash, see services.completion_mail); unique across requests, retries and
    databases, through the time the mail became owed."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "dssportal.invalid"
    stamp = f"{request.notified_at or request.received_at:%Y%m%d%H%M%S%f}"
    return f"<completion.{request.pk}.{request.retries}.{stamp}@{domain}>"


def auto_reply_send(*, to: str, subject: str, body: str, headers: Mapping[str, str]) -> None:
    """Send one plain-text automatic message from ``DEFAULT_FROM_EMAIL`` to ``to``.

    Subject and body are stripped of control and bidi characters here, once for every
    message: whatever a reply copied from its input, no terminal escape, U+202E or NUL
    reaches a reader's mail client.
    """
    message = EmailMessage(
        subject=" ".join(quotable(subject).split()),
        body=quotable(body),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=dict(headers),
    )
    message.send()


def _field_line(field: Field) -> str:
    plate = (
        f"plate {field.plate.plate_id} ({field.plate.survey} {field.plate.region})"
        if (field.plate)
        else "no plate"
    )
    lines = [
        f"  {field.output_name:<32} {human_bytes(field.bytes or 0):>10}  {plate}",
        f"      line {field.line_no}: {field.plate_reason}",
    ]
    if field.clipped or (field.message and field.mode != "n"):
        lines.append(f"      note: {field.message}")
    return "\n".join(lines)


def _opening(request: Request, n_fields: int, n_done: int, n_not_served: int) -> list[str]:
    """What became of the request, in its first lines (see extraction.services.lifecycle)."""
    when = f"Your DSS request #{request.pk} of {request.received_at:%Y-%m-%d %H:%M} UTC"
    served = f"{n_done} of {n_fields} field(s) served"
    staging: StagingDirectory | None = getattr(request, "staging", None)
    deleted = staging if staging is not None and staging.deleted_at is not None else None
    if deleted is not None and request.n_cancelled:
        text = (
            f"{when} was cancelled: its staging directory {deleted.name} was deleted "
            f"({deleted.deleted_reason}) on {deleted.deleted_at:%Y-%m-%d %H:%M} UTC while the "
            f"request was being filled. {n_done} of {n_fields} field(s) had been made; "
            f"their files were deleted with the directory, and the remaining "
            f"{request.n_cancelled} field(s) were cancelled."
        )
    elif request.status == RequestStatus.CANCELLED:
        text = f"{when} was cancelled by the archive staff: {served}."
    elif request.status == RequestStatus.FAILED:
        text = f"{when} is finished, but none of its {n_fields} field(s) could be served."
    elif request.status == RequestStatus.PARTIAL:
        text = f"{when} is partly done: {served}, {n_not_served} not served."
    else:
        text = f"{when} is complete: {served}."
    if deleted is not None and not request.n_cancelled and n_done:
        text += (
            f" Its staging directory {deleted.name} was deleted ({deleted.deleted_reason}) "
            f"meanwhile: no file of this request is left."
        )
    lines = [text]
    if request.retries:
        lines += [
            "",
            "This message follows a retry, by the archive staff, of the field(s) that had "
            "failed; it lists the whole request again.",
        ]
    return [*wrap_paragraphs(lines), ""]


def wrap_paragraphs(lines: list[str]) -> list[str]:
    """Wrap for a terminal mail client; names and addresses are never cut."""
    return [
        textwrap.fill(line, 76, break_long_words=False, break_on_hyphens=False) if line else ""
        for line in lines
    ]


def completion_text(request: Request) -> str:
    """The body of the completion message."""
    fields = list(request.fields.select_related("plate").order_by("line_no"))
    done = [f for f in fields if f.status == FieldStatus.DONE]
    not_served = [f for f in fields if f.status not in (FieldStatus.DONE,)]
    staging = getattr(request, "staging", None)
    live = staging if staging is not None and staging.deleted_at is None else None
    parts = _opening(request, len(fields), len(done), len(not_served))
    if done and live is not None:
        total = sum(f.bytes or 0 for f in done)
        parts += [
            f"Files ({human_bytes(total)} in all) are staged in directory {live.name}:",
            f"  FTP:  {staging_ftp_url(live)}",
            f"  Web:  {staging_web_url(live)}",
            f"They will be deleted on {live.expires_at:%Y-%m-%d %H:%M} UTC "
            f"({settings.DSSPORTAL_STAGING_DAYS} days after creation).",
            "",
        ]
        parts += [_field_line(f) for f in done]
        parts.append("")
    lists = [f for f in done if f.mode == "n"]
    for field in lists:
        parts += [f"Plates for {field.identifier} (line {field.line_no}):", field.message, ""]
    if not_served:
        parts.append("Not served:")
        for field in not_served:
            parts.append(f"  line {field.line_no} ({field.identifier}): {field.message}")
        parts.append("")
    if request.n_rejected:
        parts.append(
            f"{request.n_rejected} line(s) of your list could not be read; the receipt named them."
        )
        parts.append("")
    if done and live is not None:
        staging = live
        parts += [
            "When you no longer need the files, please free the space: mail the directory",
            f"name ({staging.name}) on a line of its own to {settings.DSSPORTAL_DELETE_ADDRESS},",
            "or delete it over FTP.",
            "",
        ]
    parts += [
        f"Request page: {request_web_url(request)}",
        "",
        "Please acknowledge the Digitized Sky Survey in publications that use these images:",
        "the DSS was produced at the Space Telescope Science Institute under U.S. Government",
        "grant NAG W-2166.",
    ]
    return "\n".join(parts) + "\n"


def completion_subject(request: Request) -> str:
    staging = getattr(request, "staging", None)
    ready = f"{request.n_done} of {request.n_fields} field(s)"
    if staging is not None and staging.deleted_at is not None:
        if request.n_cancelled:
            return f"DSS request #{request.pk}: cancelled, staging directory deleted ({ready} made)"
        return f"DSS request #{request.pk}: {ready} made, staging directory deleted"
    if request.status == RequestStatus.CANCELLED:
        return f"DSS request #{request.pk}: cancelled ({ready} ready)"
    retry = " after retry" if request.retries else ""
    return f"DSS request #{request.pk}: {ready} ready{retry}"


def notify_completion(*, request_id: int) -> None:
    """Send the completion message to the user's primary registered address."""
    request = Request.objects.select_related("user").get(pk=request_id)
    auto_reply_send(
        to=request.user.email,
        subject=completion_subject(request),
        body=completion_text(request),
        headers={**reply_headers(request), "Message-ID": completion_message_id(request)},
    )
