"""django-q2 tasks: an interface that takes primary keys and calls services, nothing more.

Each worker process also runs a small sweeper thread (started on django-q2's ``post_spawn``):
at once when the cluster starts, then every ``DSSPORTAL_SWEEP_SECONDS``, it re-enqueues the
fields a dead worker or cluster had taken (services.sweeper).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django_q.brokers import get_broker
from django_q.tasks import async_task

from extraction.models import Field, FieldStatus
from extraction.services.extraction import field_extract, fields_settle
from extraction.services.selection import catalogue_memoised
from extraction.services.staging import staging_expire, staging_usage_recompute
from extraction.services.sweeper import fields_reclaim, scratch_of_dead_processes_remove

log = logging.getLogger(__name__)


class FieldFailed(Exception):
    """A field that ended failed: raised so that django-q stores the task as a failure."""


def extract_field(field_id: int) -> str:
    """Extract one field. A failed field fails the task too, so that it is kept in the
    admin's "Failed tasks" list (successes are not stored); the field row says why.

    Not when tasks run inline (``DSSPORTAL_TASKS_SYNC``): django-q re-raises there instead
    of recording, which would turn one failed field into an error for whoever sent the list.
    """
    status = field_extract(field_id=field_id)
    _raise_if_failed([field_id], [status])
    return status


def extract_fields(field_ids: list[int]) -> str:
    """Several fields in one task: one queue round trip instead of one per field, one settle
    per request. Every field is extracted before a failure of any of them fails the task."""
    with catalogue_memoised():  # fields of one request share their plates: read them once
        statuses = [field_extract(field_id=field_id, settle=False) for field_id in field_ids]
    fields_settle(field_ids=field_ids)
    _raise_if_failed(field_ids, statuses)
    return ", ".join(statuses)


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
    async_task(
        "extraction.tasks.extract_field",
        field_id,
        task_name=f"field-{field_id}",
    )


def enqueue_fields(field_ids: Sequence[int]) -> None:
    """Enqueue a request's fields, a few per task while that still keeps every worker busy.

    Each field is still claimed, leased and finished on its own, so a task cut short loses
    nothing: the sweeper takes its fields back one by one.
    """
    workers = int(str(settings.Q_CLUSTER.get("workers", 1)))
    per_task = max(1, min(settings.DSSPORTAL_FIELDS_PER_TASK, len(field_ids) // (4 * workers)))
    broker = get_broker()  # one for all the tasks: django-q2 opens a new one per task otherwise
    for start in range(0, len(field_ids), per_task):
        chunk = list(field_ids[start : start + per_task])
        if len(chunk) == 1:
            enqueue_field(chunk[0])
        else:
            async_task(
                "extraction.tasks.extract_fields",
                chunk,
                task_name=f"fields-{chunk[0]}-{chunk[-1]}",
                broker=broker,
            )


def sweep_fields() -> str:
    """Re-enqueue abandoned and orphaned fields (services.sweeper); a summary for the log."""
    broker_idle = settings.DSSPORTAL_TASKS_SYNC or get_broker().queue_size() == 0
    reclaimed = fields_reclaim(broker_idle=broker_idle)
    for field_id in reclaimed.field_ids:
        enqueue_field(field_id)
    removed = scratch_of_dead_processes_remove()
    return (
        f"re-enqueued {len(reclaimed.abandoned)} abandoned, {len(reclaimed.orphaned)} orphaned; "
        f"removed {len(removed)} dead processes' scratch folders"
    )


def _sweep_forever(interval: float) -> None:
    while True:
        try:
            close_old_connections()
            summary = sweep_fields()
            if any(char in summary for char in "123456789"):
                log.warning("field sweeper: %s", summary)
        except Exception:  # the database or broker is away: try again next time
            log.exception("field sweeper failed; retrying in %s s", interval)
            connection.close()
        time.sleep(interval)


def start_sweeper(**kwargs: Any) -> None:
    """django-q2 ``post_spawn`` receiver: run the sweeper beside this worker process.

    In sync mode django-q2 "spawns" a worker inside the caller for every task: no sweeper there.
    """
    interval = settings.DSSPORTAL_SWEEP_SECONDS
    if interval > 0 and not settings.Q_CLUSTER.get("sync"):
        threading.Thread(
            target=_sweep_forever, args=(interval,), name="field-sweeper", daemon=True
        ).start()
