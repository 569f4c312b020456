"""Messages to users: the completion message of a request (``templates/emails/completion-*``).

Also what every automatic reply shares with the replies of the mail gate
(:mod:`extraction.mail.replies`): its RFC 3834 headers. All of them are sent by
:func:`dssportal.infra.emails.send`.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import parseaddr

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.urls import reverse

from dssportal.infra import emails
from extraction.models import CancelReason, FieldStatus, Request, StagingDirectory
from extraction.services.links import public_url, staging_ftp_url, staging_web_url


def request_web_url(request: Request) -> str:
    return public_url(reverse("request-detail", args=[request.pk]))


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


def completion_context(request: Request) -> dict[str, object]:
    """What ``emails/completion-*.txt`` need: the request, its fields as they ended, and
    its staging directory (live, or deleted while the request ran)."""
    fields = list(request.fields.select_related("plate").order_by("line_no"))
    if any(f.mode == "m" for f in fields):  # the plates of mosaics, in one more query
        prefetch_related_objects(fields, "mosaic_plates")
    done = [f for f in fields if f.status == FieldStatus.DONE]
    staging: StagingDirectory | None = getattr(request, "staging", None)
    deleted = staging if staging is not None and staging.deleted_at is not None else None
    live = staging if staging is not None and staging.deleted_at is None else None
    return {
        "request": request,
        "request_url": request_web_url(request),
        "status": request.status,
        "fields": fields,
        "done": done,
        "not_served": [f for f in fields if f.status != FieldStatus.DONE],
        "plate_lists": [f for f in done if not f.makes_image],
        "cancelled_by_owner": any(f.cancel_reason == CancelReason.OWNER for f in fields),
        "deleted": deleted,
        "live": live if done else None,
        "total_bytes": sum(f.bytes or 0 for f in done),
        "ftp_url": staging_ftp_url(live) if live is not None else "",
        "web_url": staging_web_url(live) if live is not None else "",
    }


def notify_completion(*, request_id: int) -> None:
    """Send the completion message to the user's primary registered address."""
    request = Request.objects.select_related("user").get(pk=request_id)
    emails.send(
        "completion",
        to=request.user.email,
        context=completion_context(request),
        headers={**reply_headers(request), "Message-ID": completion_message_id(request)},
    )
