"""The life of a request and its fields: the one state machine, and the code that settles it.

Field states
------------
``queued``
    Waiting for a worker. Set when the request is stored, and again by a staff retry.
``running``
    A worker claimed it (guarded update ``queued -> running``). A worker that dies leaves it
    running; after ``STALE_AFTER`` another worker may claim it again.
``done``
    Its file is in the staging directory and counted in the directory's bytes (one
    transaction). ``Field.deleted_at`` is set when that directory is deleted (by the user
    over mail, FTP or the web, by staff, or on expiry): the field stays ``done`` (it was
    served) and pages say the file was deleted.
``skipped``
    Not made, for a reason the user can act on: no room in the staging quota (set at
    submission, the field is never queued), no plate covers it, the plate is offline.
``failed``
    Not made because of a fault of ours (an exception). Staff may retry it.
``cancelled``
    Not made because it was called off: staff cancelled the request (queued fields only;
    running ones finish), or the user deleted the staging directory while the request was
    being filled (queued fields at once, a running field when it would have written).

Moves: ``queued -> running | skipped | cancelled``; ``running -> done | skipped | failed |
cancelled``; ``failed -> queued`` (staff retry). Every move is a guarded update that must
change exactly one row, so a duplicated task never writes twice.

Request states
--------------
``rejected``
    No valid line. Final at creation; the only mail is the receipt.
``queued`` / ``running``
    Some field is queued or running (``running`` once the first settle saw open fields).
``done`` / ``partial`` / ``failed`` / ``cancelled``
    No field is open. ``cancelled`` when any field was cancelled; otherwise ``done`` when every
    field was served, ``failed`` when none was, ``partial`` ("partly done") in between.

Who moves a request: :func:`request_settle` does, and only it, under a lock on the request
row, whenever a field ends (worker), staff cancel (:func:`~extraction.services.requests.
request_cancel`), a directory is deleted (:func:`~extraction.services.staging.
staging_directory_delete`), or a request is stored with nothing to queue. The one call that
finds no open field on a request not yet notified makes it final and records, in the same
transaction, that the completion mail is owed (``notified_at``); it is sent after the commit
and marked sent (``mailed_at``), or by a sweeper if the sender died first
(:mod:`extraction.services.completion_mail`). A staff retry
(:func:`~extraction.services.requests.fields_retry_failed`) moves a final request with failed
fields back to ``queued`` and clears ``notified_at`` and ``mailed_at``, so the next settle owes
one more completion mail; a request with nothing to retry is unchanged.

Mails
-----
- Receipt (the mail gate, at submission): which lines were accepted, queued, skipped for
  quota, rejected.
- Completion (once per settle to a final state): what was served, with the links and the
  expiry; what was not and why; if the staging directory was deleted meanwhile, that the
  remaining fields were cancelled for that reason and no file is left; if it follows a
  staff retry, that it does, and that it lists the whole request.
"""

from __future__ import annotations

import logging
from collections import Counter

from django.db import connection, transaction
from django.utils import timezone

from dssportal.infra.db import quoted_column, rows_update
from extraction.models import Field, FieldStatus, Request, RequestStatus
from extraction.services.completion_mail import completion_mail_deliver

log = logging.getLogger(__name__)

OPEN_FIELD_STATES = (FieldStatus.QUEUED, FieldStatus.RUNNING)
FINAL_FIELD_STATES = (
    FieldStatus.DONE,
    FieldStatus.SKIPPED,
    FieldStatus.FAILED,
    FieldStatus.CANCELLED,
)
FINAL_REQUEST_STATES = (
    RequestStatus.DONE,
    RequestStatus.PARTIAL,
    RequestStatus.FAILED,
    RequestStatus.CANCELLED,
)


def request_final_status(*, n_fields: int, n_done: int, n_cancelled: int) -> RequestStatus:
    """The state of a request none of whose fields is open (see the module docstring)."""
    if n_cancelled:
        return RequestStatus.CANCELLED
    if n_done == n_fields:
        return RequestStatus.DONE
    if n_done == 0:
        return RequestStatus.FAILED
    return RequestStatus.PARTIAL


def request_mark_running(*, request_id: int) -> None:
    """Queued -> running when a worker takes one of its fields, so that the request never
    reads "queued" while its fields run (a guarded update: a no-op once it is running)."""
    queued = {"pk": request_id, "status": RequestStatus.QUEUED}
    rows_update(Request, where=queued, values={"status": RequestStatus.RUNNING})


def request_settle(*, request_id: int) -> bool:
    """Recount the request's fields; when none is open, make it final and mail, once.

    Returns True for the one caller that finished the request.
    """
    if _progress_record(request_id):
        return False
    with transaction.atomic():
        request = Request.objects.select_for_update().get(pk=request_id)
        counts = field_status_counts(request_id)
        tallies = _tallies(counts)
        for name, value in tallies.items():
            setattr(request, name, value)
        open_fields = sum(counts.get(state, 0) for state in OPEN_FIELD_STATES)
        finishing = open_fields == 0 and request.notified_at is None and request.n_fields > 0
        if open_fields and request.status == RequestStatus.QUEUED:
            request.status = RequestStatus.RUNNING
        if finishing:
            now = timezone.now()
            request.status = request_final_status(
                n_fields=request.n_fields, n_done=request.n_done, n_cancelled=request.n_cancelled
            )
            request.finished_at = request.notified_at = now
        request.save(update_fields=[*tallies, "status", "finished_at", "notified_at"])
        if finishing:
            transaction.on_commit(lambda: _notify(request_id))
    return finishing


def _progress_record(request_id: int) -> bool:
    """While some field is open: store the counts without locking the request; True then.

    The lock and the recount under it are only needed to end a request, and that is never
    missed: the worker that ends the last open field counts after its own field's commit, so
    it finds none open and takes the locked path. A count taken before a concurrent settle
    ended the request is not stored over it (``notified_at`` guard, re-checked on the locked
    row); one taken before another worker's count may be stored after it, and the next settle
    mends that: the request page is at most one settle behind.
    """
    counts = field_status_counts(request_id)
    if not any(counts.get(state, 0) for state in OPEN_FIELD_STATES):
        return False
    rows_update(
        Request,
        where={"pk": request_id, "notified_at": None},
        values=_tallies(counts),
        moves={"status": (RequestStatus.QUEUED, RequestStatus.RUNNING)},
    )
    return True


def field_status_counts(request_id: int) -> Counter[str]:
    """How many of the request's fields are in each state (one query; absent states 0).

    Written out: every task of a worker counts its request's fields, and the ORM's query
    building cost more than the database took to count them."""
    table = connection.ops.quote_name(Field._meta.db_table)
    status, request = (quoted_column(Field, name) for name in ("status", "request"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {status}, COUNT(*) FROM {table} WHERE {request} = %s GROUP BY {status}",
            [int(request_id)],
        )
        return Counter(dict(cursor.fetchall()))


def _tallies(counts: Counter[str]) -> dict[str, int]:
    """The request's stored counts of ended fields (``n_done``...), from the state counts."""
    return {
        "n_done": counts.get(FieldStatus.DONE, 0),
        "n_skipped": counts.get(FieldStatus.SKIPPED, 0),
        "n_failed": counts.get(FieldStatus.FAILED, 0),
        "n_cancelled": counts.get(FieldStatus.CANCELLED, 0),
    }


def _notify(request_id: int) -> None:
    try:
        completion_mail_deliver(request_id=request_id)
    except Exception:  # the database went away after the commit: the sweeper sends it
        log.exception("completion mail of request %s left owed", request_id)
