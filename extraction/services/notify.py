"""Messages to users: the completion message of a request (plain text, for a mail client).

Also the two pieces every automatic message shares with the replies of the mail gate
(:mod:`extraction.mail.replies`): its RFC 3834 headers and how it is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse

from extraction.core.safetext import quotable
from extraction.core.textformat import human_bytes
from extraction.models import Field, FieldStatus, Request
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


def completion_text(request: Request) -> str:
    """The body of the completion message."""
    fields = list(request.fields.select_related("plate").order_by("line_no"))
    done = [f for f in fields if f.status == FieldStatus.DONE]
    skipped = [f for f in fields if f.status in (FieldStatus.SKIPPED, FieldStatus.FAILED)]
    staging = getattr(request, "staging", None)
    parts = [
        f"Your DSS request #{request.pk} of {request.received_at:%Y-%m-%d %H:%M} UTC is "
        f"complete: {len(done)} of {len(fields)} field(s) served"
        + (f", {len(skipped)} not served." if skipped else "."),
        "",
    ]
    if done and staging is not None:
        total = sum(f.bytes or 0 for f in done)
        parts += [
            f"Files ({human_bytes(total)} in all) are staged in directory {staging.name}:",
            f"  FTP:  {staging_ftp_url(staging)}",
            f"  Web:  {staging_web_url(staging)}",
            f"They will be deleted on {staging.expires_at:%Y-%m-%d %H:%M} UTC "
            f"({settings.DSSPORTAL_STAGING_DAYS} days after creation).",
            "",
        ]
        parts += [_field_line(f) for f in done]
        parts.append("")
    lists = [f for f in done if f.mode == "n"]
    for field in lists:
        parts += [f"Plates for {field.identifier} (line {field.line_no}):", field.message, ""]
    if skipped:
        parts.append("Not served:")
        for field in skipped:
            parts.append(f"  line {field.line_no} ({field.identifier}): {field.message}")
        parts.append("")
    if request.n_rejected:
        parts.append(
            f"{request.n_rejected} line(s) of your list could not be read; the receipt named them."
        )
        parts.append("")
    if done and staging is not None:
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


def notify_completion(*, request_id: int) -> None:
    """Send the completion message to the user's primary registered address."""
    request = Request.objects.select_related("user").get(pk=request_id)
    auto_reply_send(
        to=request.user.email,
        subject=f"DSS request #{request.pk}: {request.n_done} of {request.n_fields} field(s) ready",
        body=completion_text(request),
        headers=reply_headers(request),
    )
