"""Deletion lists by mail: free staging directories named in a message, and say so.

A registered user mails staging-directory names, one a line, to the deletion address.
:func:`deletion_list_handle` reads the text that holds the list (the body or a text
attachment, as for requests), deletes each named directory that is a live one of that
user through :func:`~extraction.services.staging.staging_directory_delete`, and writes
the reply: each name deleted (with the space freed) or ignored (and why), then the
user's staging directories as they are now. It runs inside the mail gate's transaction
(:mod:`extraction.mail.gate`), which records the message and sends the reply.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from accounts.models import User
from extraction.mail.replies import Reply, reading_context
from extraction.models import StagingDirectory
from extraction.services.requests import rejected_listing
from extraction.services.staging import StagingError, staging_directory_delete
from extraction.text import mailtext
from extraction.text.mailtext import MailBody, TextPart
from extraction.text.requestlist import DeletionEntry, parse_deletion_list
from extraction.text.safetext import listing, printable

log = logging.getLogger(__name__)

__all__ = ["DeletionLine", "deletion_context", "deletion_list_handle"]


@dataclass(frozen=True)
class DeletionLine:
    """One entry of a deletion list and what became of it.

    ``ignored`` says why a line deleted nothing (the reply's template words it):
    ``"unreadable"`` (``reason`` from the parser), ``"repeated"`` (named already on
    ``first_line``), ``"unknown"`` (no live or deleted directory of the user has the name),
    ``"gone"`` (``directory`` was deleted before), ``"failed"`` (the deletion failed; the
    staff have been told), ``"confirm"`` (the message was not authenticated: the owner
    deletes it on the web), ``"cut"`` (the list's cap was reached here: this line and the
    rest were not read). Empty when deleted.
    """

    line_no: int
    name: str
    deleted_bytes: int | None  # None when ignored
    ignored: str = ""
    reason: str = ""
    first_line: int | None = None
    directory: StagingDirectory | None = None
    cancelled_fields: int = 0  # fields of the request not yet made, now never made


def deletion_list_handle(*, body: MailBody, user: User, act: bool = True) -> tuple[str, Reply]:
    """Act on the deletion list in ``body`` for ``user``; with ``act`` false (a message
    whose sender was not authenticated) delete nothing: the reply gives, for each live
    directory named, the web link that deletes it once the owner confirms there.

    Returns
    -------
    detail : str
        What was done, for the record of the message.
    reply : Reply
        The reply to send ``user`` (at the primary registered address).
    """
    source, unread = mailtext.choose_text(body, _deletion_counts)
    entries = _parse(source.text)
    named = _directories_named(entries, user)
    seen: dict[str, int] = {}
    lines = [_delete_one(entry, user, named=named, seen=seen, act=act) for entry in entries]
    deleted = [line for line in lines if line.deleted_bytes is not None]
    to_confirm = sum(1 for line in lines if line.ignored == "confirm")
    detail = (
        f"{len(deleted)} deleted, {len(lines) - len(deleted)} ignored"
        + (f" ({to_confirm} to confirm on the web: sender not authenticated)" if to_confirm else "")
        + (": " + ", ".join(line.name for line in deleted) if deleted else "")
    )
    reply = Reply(
        to=user.email,
        name="deletion",
        context=deletion_context(lines=lines, user=user, source=source, unread=unread),
    )
    return detail, reply


def _parse(text: str) -> list[DeletionEntry]:
    return parse_deletion_list(text, max_lines=settings.DSSPORTAL_MAX_REQUEST_LINES)


def _deletion_counts(text: str) -> tuple[int, int]:
    entries = _parse(text)
    return sum(1 for e in entries if e.ok), len(entries)


def _directories_named(entries: Sequence[DeletionEntry], user: User) -> dict[str, StagingDirectory]:
    """The user's directories (live or deleted) the list names, by name: one query that
    locks only those rows, however many names the list holds."""
    names = {entry.name for entry in entries if entry.ok}
    found = StagingDirectory.objects.select_for_update().filter(user=user, name__in=names)
    return {directory.name: directory for directory in found}


def _delete_one(
    entry: DeletionEntry,
    user: User,
    *,
    named: dict[str, StagingDirectory],
    seen: dict[str, int],
    act: bool,
) -> DeletionLine:
    """Act on one line; only a live staging directory of ``user`` is ever touched."""
    name = printable(entry.name)
    if entry.cut:
        return DeletionLine(entry.line_no, name, None, "cut", reason=entry.reason or "")
    if not entry.ok:
        return DeletionLine(entry.line_no, name, None, "unreadable", reason=entry.reason or "")
    if entry.name in seen:
        return DeletionLine(entry.line_no, name, None, "repeated", first_line=seen[entry.name])
    seen[entry.name] = entry.line_no
    directory = named.get(entry.name)
    if directory is None:
        return DeletionLine(entry.line_no, name, None, "unknown")
    if directory.deleted_at is not None:
        return DeletionLine(entry.line_no, name, None, "gone", directory=directory)
    if not act:
        return DeletionLine(entry.line_no, name, None, "confirm", directory=directory)
    try:
        deletion = staging_directory_delete(directory=directory, reason="deleted by mail")
    except StagingError as exc:
        log.error("staging directory %s of user %s not deleted: %s", name, user.pk, exc)
        return DeletionLine(entry.line_no, name, None, "failed")
    return DeletionLine(
        entry.line_no, name, deletion.freed_bytes, cancelled_fields=deletion.cancelled_fields
    )


#: How many live staging directories the reply lists.
_LIVE_LISTED = 50


def deletion_context(
    *, lines: Sequence[DeletionLine], user: User, source: TextPart, unread: Sequence[TextPart]
) -> dict[str, object]:
    """What ``emails/deletion-body-text.txt`` needs: each name deleted (with the space
    freed) or ignored (and why), and the user's live staging directories now."""
    deleted = [line for line in lines if line.deleted_bytes is not None]
    ignored = [line for line in lines if line.deleted_bytes is None and line.ignored != "cut"]
    cut = next((line for line in lines if line.ignored == "cut"), None)
    live = StagingDirectory.objects.filter(user=user, deleted_at__isnull=True).order_by(
        "created_at"
    )
    return {
        "lines": lines,
        "deleted": deleted,
        "cut": cut,
        "ignored": rejected_listing(ignored),
        "live": listing(list(live), limit=_LIVE_LISTED),
        **reading_context(source, unread),
    }
