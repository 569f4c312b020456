"""django-q2 tasks: task names mapped to service calls, taking primary keys, nothing more.

Services enqueue these by name (:mod:`extraction.services.queue`); what a worker does around
them (waiting out database outages, the sweeper thread) is :mod:`extraction.services.worker`.
"""

from __future__ import annotations

from extraction.services import worker
from extraction.services.staging import staging_expire, staging_usage_recompute


class FieldFailed(Exception):
    """A field that ended failed: raised so that django-q stores the task as a failure."""


def extract_field(field_id: int) -> str:
    """Extract one field. A failed field fails the task too, so that it is kept in the
    admin's "Failed tasks" list (successes are not stored); the field row says why."""
    status = worker.field_extract_one(field_id)
    _raise_if_failed([field_id], [status])
    return status


def extract_fields(field_ids: list[int]) -> str:
    """Several fields in one task: one queue round trip instead of one per field, one settle
    per request. Every field is extracted before a failure of any of them fails the task."""
    statuses = worker.fields_extract(field_ids)
    _raise_if_failed(field_ids, statuses)
    return ", ".join(statuses)


def _raise_if_failed(field_ids: list[int], statuses: list[str]) -> None:
    if message := worker.fields_failed_message(field_ids, statuses):
        raise FieldFailed(message)


def expire_staging() -> str:
    expired = staging_expire()
    total = staging_usage_recompute()
    return f"expired {len(expired)} staging directories; {total} bytes staged"


def sweep_fields(*, orphans: bool = True) -> str:
    """One sweep (:func:`extraction.services.worker.sweep`); its summary for the log."""
    return str(worker.sweep(orphans=orphans))
