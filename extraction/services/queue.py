"""Enqueueing: the one module that hands work to the task queue, by dotted task name.

Services name the task (``"extraction.tasks.extract_fields"``) instead of importing the task
module, so that imports point down: tasks call services, never the other way round. Every
field records when its task was put on the queue (``Field.enqueued_at``, shared by the
fields of one task): the sweeper (:mod:`extraction.services.sweeper`) reads that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.status import Stat
from django_q.tasks import async_task

from dssportal.infra.db import rows_update
from extraction.models import Field, FieldStatus

#: The tasks of :mod:`extraction.tasks` that services enqueue.
EXTRACT_FIELD = "extraction.tasks.extract_field"
EXTRACT_FIELDS = "extraction.tasks.extract_fields"


def enqueue(task: str, *args: Any, task_name: str, broker: Any = None) -> None:
    """Put the task named ``task`` (a dotted path) on the queue with ``args``."""
    options: dict[str, Any] = {"task_name": task_name}
    if broker is not None:
        options["broker"] = broker
    async_task(task, *args, **options)


def enqueue_field(field_id: int, *, marked: bool = False, broker: Any = None) -> None:
    if not marked:
        fields_mark_enqueued([[field_id]])
    enqueue(EXTRACT_FIELD, field_id, task_name=f"field-{field_id}", broker=broker)


def enqueue_fields(field_ids: Sequence[int], *, marked: bool = False) -> None:
    """Enqueue a request's fields, a few per task while that still keeps every worker busy.

    A task leases and claims its fields together, but each field holds its own lease and is
    finished on its own, so a task cut short loses nothing: the sweeper takes back the fields
    it had not finished. ``marked``: the fields already carry their tasks' ``enqueued_at``
    (:func:`enqueue_times`, stored with the rows of a new request).
    """
    chunks = fields_chunked(field_ids)
    if not marked:
        fields_mark_enqueued(chunks)  # one transaction
    broker = get_broker()  # one for all the tasks: django-q2 opens a new one per task otherwise
    for chunk in chunks:
        if len(chunk) == 1:
            enqueue_field(chunk[0], marked=True, broker=broker)
        else:
            enqueue(
                EXTRACT_FIELDS, chunk, task_name=f"fields-{chunk[0]}-{chunk[-1]}", broker=broker
            )


def _fields_per_task(n_fields: int) -> int:
    """Up to ``DSSPORTAL_FIELDS_PER_TASK``, at least four tasks per worker so that none idles
    while another works through a long group."""
    workers = int(str(settings.Q_CLUSTER.get("workers", 1)))
    return max(1, min(settings.DSSPORTAL_FIELDS_PER_TASK, n_fields // (4 * workers)))


def fields_chunked(field_ids: Sequence[int]) -> list[list[int]]:
    """The fields in tasks of ``_fields_per_task`` fields."""
    per_task = _fields_per_task(len(field_ids))
    return [list(field_ids[i : i + per_task]) for i in range(0, len(field_ids), per_task)]


def enqueue_times(n_fields: int, *, now: datetime) -> list[datetime]:
    """The ``enqueued_at`` :func:`fields_mark_enqueued` records for ``n_fields`` fields
    enqueued in this order by :func:`enqueue_fields` at ``now``: their task's position, in
    microseconds. A new request's rows are stored with them, and its first enqueue
    (``marked=True``) writes nothing: updating every row again after the insert cost the mail
    gate 0.15 s for 1,000 fields on PostgreSQL (each row a new version with all its indexes).
    """
    per_task = _fields_per_task(n_fields)
    return [now + timedelta(microseconds=i // per_task) for i in range(n_fields)]


def fields_mark_enqueued(tasks: Sequence[Sequence[int]]) -> None:
    """Record that these tasks (each a list of field ids) are being put on the queue, in this
    order: one transaction, and a microsecond apart, so the order survives. ``rows_update``:
    the ORM's query building cost more than the database took (0.3 s of the mail gate for a
    request of 1,000 fields)."""
    now = timezone.now()
    with transaction.atomic():
        for position, field_ids in enumerate(tasks):
            rows_update(
                Field,
                where={"status": FieldStatus.QUEUED},
                pks=field_ids,
                values={"enqueued_at": now + timedelta(microseconds=position)},
            )


def broker_idle() -> bool:
    """True when no task waits for a worker (always, when tasks run inline): none in the
    broker, and none that a live cluster has taken off it but not handed to a worker yet.

    A cluster takes up to ``queue_limit`` tasks ahead of its workers. At the end of a long
    batch the broker is empty while the last tasks, enqueued long before, wait there: the
    sweeper took them for orphans and enqueued every one again (56 fields in one run of the
    pipeline bench with a 1 s sweep).
    Clusters report that queue every guard cycle through the broker's stats (Redis; with the
    ORM broker each process only sees its own cache, so nothing is reported)."""
    if settings.DSSPORTAL_TASKS_SYNC:
        return True
    broker = get_broker()
    return broker.queue_size() == 0 and _tasks_prefetched(broker) == 0


def _tasks_prefetched(broker: Any) -> int:
    """Tasks the live clusters hold taken but not started, as they last reported them (a
    report expires within seconds of its cluster's death)."""
    return sum(stat.task_q_size for stat in Stat.get_all(broker))


def broker_problem() -> str | None:
    """Why the task queue cannot take work now, or None when it can (``/healthz``).

    The ORM broker is a table of the database: its connection is opened. Any other broker
    (Redis) is pinged. Inline tasks (``DSSPORTAL_TASKS_SYNC``) need no broker.
    """
    if settings.DSSPORTAL_TASKS_SYNC or settings.Q_CLUSTER.get("sync"):
        return None
    try:
        orm = settings.Q_CLUSTER.get("orm")
        if orm and not settings.Q_CLUSTER.get("redis"):
            connections[str(orm)].ensure_connection()
        elif get_broker().ping() is False:
            return "the broker does not answer"
    except Exception as exc:  # whatever the broker's client raises: Redis, database
        return f"{type(exc).__name__}: {exc}"[:300]
    return None
