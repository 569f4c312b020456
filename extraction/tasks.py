"""django-q2 tasks: an interface that takes primary keys and calls services, nothing more."""

from __future__ import annotations

from django_q.tasks import async_task

from extraction.services.extraction import field_extract
from extraction.services.staging import staging_expire, staging_usage_recompute


def extract_field(field_id: int) -> str:
    return field_extract(field_id=field_id)


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
