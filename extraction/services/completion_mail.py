"""The completion mail as a transactional outbox: owed in the settle transaction, sent after.

:func:`~extraction.services.lifecycle.request_settle` records that the mail is owed
(``Request.notified_at``) in the same transaction that makes the request final; nothing is
sent inside it. After the commit, :func:`completion_mail_deliver` sends it and marks it sent
(``Request.mailed_at``). A process that dies between the commit and the mark leaves the mail
owed, and the sweeper every worker runs (:func:`completion_mails_deliver_owed`) sends it a few
seconds later. Whoever sends holds the request's mail lease (services.leases), so two
processes never send the same mail at once, and reads whether it is still owed only once it
holds the lease.

What that gives: with the outbox folder (the embedded default) exactly one file per mail, as
the mail carries a stable Message-ID and the outbox names its file after it; with SMTP at
least once, with that same Message-ID: a crash after the server accepted the message and
before the mark sends it once more. The mark itself rides out a database outage of a few
seconds (a restart right after the send), reconnecting, before the sweeper would send again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import DatabaseError, connection
from django.utils import timezone

from dssportal.infra.db import database_wait
from extraction.models import Request
from extraction.services.leases import mail_lease
from extraction.services.notify import notify_completion

log = logging.getLogger(__name__)

#: An owed mail younger than this is left to the process that settled the request.
MAIL_GRACE = timedelta(seconds=3)
#: Attempts to mark a sent mail, the database reconnected between them.
_SENT_RECORD_TRIES = 3


def completion_mail_deliver(*, request_id: int) -> bool:
    """Send the request's completion mail if it is owed and nobody else is sending it.

    Returns True when this call sent it. A failure to send is logged and leaves the mail
    owed, for the sweeper to try again.
    """
    with mail_lease(request_id) as lease:
        if not lease.taken:
            return False
        owed_since = _owed_since(request_id)
        if owed_since is None:  # sent meanwhile, or reopened by a staff retry
            return False
        try:
            notify_completion(request_id=request_id)
        except Exception:
            log.exception(
                "completion mail of request %s could not be sent; it stays owed", request_id
            )
            return False
        _sent_record(request_id, owed_since)
        lease.finished = True
        return True


def _sent_record(request_id: int, owed_since: datetime) -> None:
    """Mark the mail sent, riding out a database outage shorter than ``MAIL_GRACE``: it has
    gone, and a mail still marked owed is sent again by the sweeper (a database restart right
    after the send sent it twice)."""
    for attempt in range(1, _SENT_RECORD_TRIES + 1):
        try:
            # Guarded by the settle that made it owed: a staff retry meanwhile owes a new mail.
            Request.objects.filter(pk=request_id, notified_at=owed_since, mailed_at=None).update(
                mailed_at=timezone.now()
            )
            return
        except DatabaseError:
            if (
                attempt == _SENT_RECORD_TRIES
                or connection.in_atomic_block  # a caller's transaction is lost with it anyway
                or not database_wait(timeout=MAIL_GRACE.total_seconds())
            ):
                raise
            log.warning(
                "completion mail of request %s sent while the database was away; "
                "marking it sent again",
                request_id,
            )


def completion_mails_deliver_owed() -> list[int]:
    """Send every completion mail owed for longer than ``MAIL_GRACE``; the ids of those sent."""
    owed = Request.objects.filter(
        notified_at__lt=timezone.now() - MAIL_GRACE, mailed_at=None
    ).values_list("pk", flat=True)
    return [request_id for request_id in owed if completion_mail_deliver(request_id=request_id)]


def _owed_since(request_id: int) -> datetime | None:
    return (
        Request.objects.filter(pk=request_id, mailed_at=None)
        .values_list("notified_at", flat=True)
        .first()
    )
