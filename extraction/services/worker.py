"""What a worker process does around the fields it is given: it waits out database outages,
extracts a task's fields, and runs the sweeper beside its tasks.

A database error in the middle of a task (PostgreSQL restarted, a connection cut) is not the
field's fault: the worker drops the connection, waits for the database with a backoff, and goes
on with the fields of its task not yet ended (leases, claim and load again, in one statement
each); after ``DATABASE_WAIT_SECONDS`` without an
answer it gives up and leaves its fields to the sweepers.

Each worker process also runs a small sweeper thread (started on django-q2's ``post_spawn``):
at once when the cluster starts, then every ``DSSPORTAL_SWEEP_SECONDS``, it re-enqueues the
fields a dead worker or cluster had taken (:mod:`extraction.services.sweeper`) and sends the
completion mails a dead process owed (:mod:`extraction.services.completion_mail`).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from dssportal.infra.db import database_wait
from extraction.models import Field, FieldStatus
from extraction.services import queue
from extraction.services.completion_mail import completion_mails_deliver_owed
from extraction.services.extraction import NOT_CLAIMED, fields_extract_task, fields_settle
from extraction.services.leases import sweep_lease
from extraction.services.selection import catalogue_memoised
from extraction.services.sweeper import (
    ORPHAN_GRACE,
    fields_reclaim,
    preview_partials_stale_remove,
    requests_settle_stalled,
    scratch_of_dead_processes_remove,
)

log = logging.getLogger(__name__)

#: How long a worker waits for the database to answer again before leaving its fields to the
#: sweepers; and how many database errors one field may meet before that.
DATABASE_WAIT_SECONDS = 60.0
DATABASE_TRIES = 3
ORPHAN_GRACE_SECONDS = ORPHAN_GRACE.total_seconds()


def fields_extract_through_outages(
    field_ids: Sequence[int], *, claimed_requests: set[int] | None = None
) -> list[str]:
    """``fields_extract_task``, done again for the fields not yet ended once the database
    answers after an error: a field cut short keeps no trace of the attempt (its lease went
    with the connection, and a field left running without a lease is claimed again). A field
    that had ended before the error is not done again. The requests are not settled (the
    caller does, :func:`~extraction.services.extraction.fields_settle`, for those added to
    ``claimed_requests``). Gives up when one field has met ``DATABASE_TRIES`` errors, or the
    database stays away."""
    ended: dict[int, str] = {}  # the fields whose outcome is known, across attempts
    last: dict[int, str] = {}  # every field's status after the attempt that went through
    left = list(dict.fromkeys(field_ids))
    errors: Counter[int] = Counter()
    while left:
        try:
            last = fields_extract_task(
                left,
                ended=ended,
                settle=False,
                retried=bool(errors),
                claimed_requests=claimed_requests,
            )
            break
        except (OperationalError, InterfaceError) as exc:
            left = [pk for pk in left if pk not in ended]
            if not left:
                break  # the error came after the last field ended
            errors[left[0]] += 1
            log.warning("field %s: database error (%s); waiting for the database", left[0], exc)
            if errors[left[0]] == DATABASE_TRIES or not database_wait(
                timeout=DATABASE_WAIT_SECONDS
            ):
                raise
    statuses = {**ended, **last}
    return [statuses[pk] for pk in field_ids]


def field_extract_one(field_id: int) -> str:
    """One field of a single-field task; its status."""
    (status,) = fields_extract([field_id])
    return status


def fields_extract(field_ids: Sequence[int]) -> list[str]:
    """The fields of one task, one settle per request; their statuses."""
    claimed_requests: set[int] = set()
    with catalogue_memoised():  # fields of one request share their plates: read them once
        statuses = fields_extract_through_outages(field_ids, claimed_requests=claimed_requests)
    _log_not_claimed(field_ids, statuses)
    fields_settle(request_ids=claimed_requests)
    return statuses


def _log_not_claimed(field_ids: Sequence[int], statuses: Sequence[str]) -> None:
    """A field another task had already done or taken: a duplicated task (harmless, rare)."""
    for field_id, status in zip(field_ids, statuses, strict=True):
        if status == NOT_CLAIMED:
            log.info("field %s not claimed: finished, cancelled or taken by another task", field_id)


def fields_failed_message(field_ids: Sequence[int], statuses: Sequence[str]) -> str:
    """Why the task's failed fields failed (``""`` when none did), for the task to raise so
    that django-q stores it as a failure. Not when tasks run inline
    (``DSSPORTAL_TASKS_SYNC``): django-q re-raises there instead of recording, which would
    turn one failed field into an error for whoever sent the list."""
    failed = [
        pk for pk, status in zip(field_ids, statuses, strict=True) if status == FieldStatus.FAILED
    ]
    if not failed or settings.Q_CLUSTER.get("sync"):
        return ""
    messages = dict(Field.objects.filter(pk__in=failed).values_list("pk", "message"))
    return "; ".join(f"field {pk} failed: {messages.get(pk, '')}" for pk in failed)


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did; ``taken`` is False when another sweeper of the site had its turn."""

    taken: bool = True
    abandoned: Sequence[int] = ()
    orphaned: Sequence[int] = ()
    removed: Sequence[str] = ()
    settled: Sequence[int] = ()
    mailed: Sequence[int] = ()

    @property
    def anything_done(self) -> bool:
        return any((self.abandoned, self.orphaned, self.removed, self.settled, self.mailed))

    def __str__(self) -> str:
        if not self.taken:
            return "another sweeper is at work"
        return (
            f"re-enqueued {len(self.abandoned)} abandoned, {len(self.orphaned)} orphaned; "
            f"removed {len(self.removed)} dead processes' scratch folders and partial previews; "
            f"finished {len(self.settled)} stalled requests; "
            f"sent {len(self.mailed)} owed completion mails"
        )


def sweep(*, orphans: bool = True) -> SweepReport:
    """Re-enqueue abandoned and (``orphans``) orphaned fields, finish stalled requests, send
    the completion mails a dead process owed. One sweeper of the site at a time: the others
    skip their turn. Then remove this host's dead processes' scratch (no turns needed)."""
    with sweep_lease() as lease:
        if not lease.taken:
            return SweepReport(taken=False)
        reclaimed = fields_reclaim(broker_idle=queue.broker_idle(), orphans=orphans)
        if reclaimed.field_ids:
            queue.enqueue_fields(reclaimed.field_ids)
        settled = requests_settle_stalled()
        mailed = completion_mails_deliver_owed()
    removed = scratch_of_dead_processes_remove() + preview_partials_stale_remove()
    return SweepReport(
        abandoned=reclaimed.abandoned,
        orphaned=reclaimed.orphaned,
        removed=removed,
        settled=settled,
        mailed=mailed,
    )


def sweep_forever(interval: float) -> None:
    # Tasks stalled by a database outage look orphaned once it ends: give them the grace
    # period to resume (tasks wait for the database too) before reclaiming queued fields.
    back_at: float | None = float("-inf")  # when the database last came back (None: away)
    while True:
        try:
            close_old_connections()
            orphans = back_at is not None and time.monotonic() - back_at > ORPHAN_GRACE_SECONDS
            report = sweep(orphans=orphans)
            back_at = back_at if back_at is not None else time.monotonic()
            if report.anything_done:
                log.warning("field sweeper: %s", report)
        except Exception:  # the database or broker is away: try again next time
            log.exception("field sweeper failed; retrying in %s s", interval)
            connection.close()
            back_at = None
        time.sleep(interval)


def sweeper_start(**kwargs: Any) -> None:
    """django-q2 ``post_spawn`` receiver: run the sweeper beside this worker process.

    In sync mode django-q2 "spawns" a worker inside the caller for every task, and a task run
    through its worker in the caller's process (``django_q.tasks._sync``) signals it too: a
    sweeper only in a worker process a cluster started.
    """
    interval = settings.DSSPORTAL_SWEEP_SECONDS
    in_cluster = multiprocessing.parent_process() is not None
    if interval > 0 and in_cluster and not settings.Q_CLUSTER.get("sync"):
        threading.Thread(
            target=sweep_forever, args=(interval,), name="field-sweeper", daemon=True
        ).start()
