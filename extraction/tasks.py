"""django-q2 tasks: an interface that takes primary keys and calls services, nothing more.

Each worker process also runs a small sweeper thread (started on django-q2's ``post_spawn``):
at once when the cluster starts, then every ``DSSPORTAL_SWEEP_SECONDS``, it re-enqueues the
fields a dead worker or cluster had taken (services.sweeper) and sends the completion mails a
dead process owed (services.completion_mail).

A database error in the middle of a task (PostgreSQL restarted, a connection cut) is not the
field's fault: the task drops the connection, waits for the database with a backoff, and goes
on with the same field and the rest of its group; after ``DATABASE_WAIT_SECONDS`` without an
answer it gives up and leaves its fields to the sweepers.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django_q.brokers import get_broker
from django_q.tasks import async_task

from dssportal.infra.db import database_wait
from extraction.models import Field, FieldStatus
from extraction.services.completion_mail import completion_mails_deliver_owed
from extraction.services.extraction import field_extract, fields_settle
from extraction.services.leases import sweep_lease
from extraction.services.selection import catalogue_memoised
from extraction.services.staging import staging_expire, staging_usage_recompute
from extraction.services.sweeper import (
    ORPHAN_GRACE,
    fields_mark_enqueued,
    fields_reclaim,
    preview_partials_stale_remove,
    requests_settle_stalled,
    scratch_of_dead_processes_remove,
)

log = logging.getLogger(__name__)

#: How long a task waits for the database to answer again before leaving its fields to the
#: sweepers; and how many database errors one field may meet before that.
DATABASE_WAIT_SECONDS = 60.0
DATABASE_TRIES = 3
ORPHAN_GRACE_SECONDS = ORPHAN_GRACE.total_seconds()


class FieldFailed(Exception):
    """A field that ended failed: raised so that django-q stores the task as a failure."""


def extract_field(field_id: int) -> str:
    """Extract one field. A failed field fails the task too, so that it is kept in the
    admin's "Failed tasks" list (successes are not stored); the field row says why.

    Not when tasks run inline (``DSSPORTAL_TASKS_SYNC``): django-q re-raises there instead
    of recording, which would turn one failed field into an error for whoever sent the list.
    """
    status = _extract_through_outages(field_id)
    _log_not_claimed([field_id], [status])
    _raise_if_failed([field_id], [status])
    return status


def extract_fields(field_ids: list[int]) -> str:
    """Several fields in one task: one queue round trip instead of one per field, one settle
    per request. Every field is extracted before a failure of any of them fails the task."""
    with catalogue_memoised():  # fields of one request share their plates: read them once
        statuses = [_extract_through_outages(field_id, settle=False) for field_id in field_ids]
    _log_not_claimed(field_ids, statuses)
    fields_settle(field_ids=field_ids)
    _raise_if_failed(field_ids, statuses)
    return ", ".join(statuses)


def _extract_through_outages(field_id: int, *, settle: bool = True) -> str:
    """``field_extract``, done again once the database answers after an error: the field
    keeps no trace of the attempt (its lease went with the connection, and a field left
    running without a lease is claimed again). A field that had ended before the error is
    not done again; its request is settled by the sweeper if the error cut its settle."""
    for attempt in range(1, DATABASE_TRIES + 1):
        try:
            status = field_extract(field_id=field_id, settle=settle)
            if attempt > 1 and status == "not claimed":
                return Field.objects.values_list("status", flat=True).get(pk=field_id)
            return status
        except (OperationalError, InterfaceError) as exc:
            log.warning("field %s: database error (%s); waiting for the database", field_id, exc)
            if attempt == DATABASE_TRIES or not database_wait(timeout=DATABASE_WAIT_SECONDS):
                raise
    raise AssertionError("unreachable")


def _log_not_claimed(field_ids: Sequence[int], statuses: Sequence[str]) -> None:
    """A field another task had already done or taken: a duplicated task (harmless, rare)."""
    for field_id, status in zip(field_ids, statuses, strict=True):
        if status == "not claimed":
            log.info("field %s not claimed: finished, cancelled or taken by another task", field_id)


def _raise_if_failed(field_ids: Sequence[int], statuses: Sequence[str]) -> None:
    failed = [
        pk for pk, status in zip(field_ids, statuses, strict=True) if status == FieldStatus.FAILED
    ]
    if not failed or settings.Q_CLUSTER.get("sync"):
        return
    messages = dict(Field.objects.filter(pk__in=failed).values_list("pk", "message"))
    raise FieldFailed("; ".join(f"field {pk} failed: {messages.get(pk, '')}" for pk in failed))


def expire_staging() -> str:
    expired = staging_expire()
    total = staging_usage_recompute()
    return f"expired {len(expired)} staging directories; {total} bytes staged"


def enqueue_field(field_id: int) -> None:
    fields_mark_enqueued([[field_id]])
    async_task("extraction.tasks.extract_field", field_id, task_name=f"field-{field_id}")


def enqueue_fields(field_ids: Sequence[int]) -> None:
    """Enqueue a request's fields, a few per task while that still keeps every worker busy.

    Each field is still claimed, leased and finished on its own, so a task cut short loses
    nothing: the sweeper takes its fields back one by one.
    """
    workers = int(str(settings.Q_CLUSTER.get("workers", 1)))
    per_task = max(1, min(settings.DSSPORTAL_FIELDS_PER_TASK, len(field_ids) // (4 * workers)))
    chunks = [list(field_ids[i : i + per_task]) for i in range(0, len(field_ids), per_task)]
    groups = [chunk for chunk in chunks if len(chunk) > 1]
    fields_mark_enqueued(groups)  # one transaction for all, not a commit per task
    broker = get_broker()  # one for all the tasks: django-q2 opens a new one per task otherwise
    for chunk in chunks:
        if len(chunk) == 1:
            enqueue_field(chunk[0])
        else:
            async_task(
                "extraction.tasks.extract_fields",
                chunk,
                task_name=f"fields-{chunk[0]}-{chunk[-1]}",
                broker=broker,
            )


def sweep_fields(*, orphans: bool = True) -> str:
    """Re-enqueue abandoned and (``orphans``) orphaned fields (services.sweeper), send the
    completion mails a dead process owed; a summary for the log. One sweeper of the site at a
    time: the others skip their turn."""
    with sweep_lease() as lease:
        if not lease.taken:
            return "another sweeper is at work"
        broker_idle = settings.DSSPORTAL_TASKS_SYNC or get_broker().queue_size() == 0
        reclaimed = fields_reclaim(broker_idle=broker_idle, orphans=orphans)
        if reclaimed.field_ids:
            enqueue_fields(reclaimed.field_ids)
        settled = requests_settle_stalled()
        mailed = completion_mails_deliver_owed()
    removed = scratch_of_dead_processes_remove()  # this host's own: no need to take turns
    removed += preview_partials_stale_remove()
    return (
        f"re-enqueued {len(reclaimed.abandoned)} abandoned, {len(reclaimed.orphaned)} orphaned; "
        f"removed {len(removed)} dead processes' scratch folders and partial previews; "
        f"finished {len(settled)} stalled requests; sent {len(mailed)} owed completion mails"
    )


def _sweep_forever(interval: float) -> None:
    # Tasks stalled by a database outage look orphaned once it ends: give them the grace
    # period to resume (tasks wait for the database too) before reclaiming queued fields.
    back_at: float | None = float("-inf")  # when the database last came back (None: away)
    while True:
        try:
            close_old_connections()
            orphans = back_at is not None and time.monotonic() - back_at > ORPHAN_GRACE_SECONDS
            summary = sweep_fields(orphans=orphans)
            back_at = back_at if back_at is not None else time.monotonic()
            if any(char in summary for char in "123456789"):
                log.warning("field sweeper: %s", summary)
        except Exception:  # the database or broker is away: try again next time
            log.exception("field sweeper failed; retrying in %s s", interval)
            connection.close()
            back_at = None
        time.sleep(interval)


def start_sweeper(**kwargs: Any) -> None:
    """django-q2 ``post_spawn`` receiver: run the sweeper beside this worker process.

    In sync mode django-q2 "spawns" a worker inside the caller for every task, and a task run
    through its worker in the caller's process (``django_q.tasks._sync``) signals it too: a
    sweeper only in a worker process a cluster started.
    """
    interval = settings.DSSPORTAL_SWEEP_SECONDS
    in_cluster = multiprocessing.parent_process() is not None
    if interval > 0 and in_cluster and not settings.Q_CLUSTER.get("sync"):
        threading.Thread(
            target=_sweep_forever, args=(interval,), name="field-sweeper", daemon=True
        ).start()
