"""django-q2 tasks: an interface that takes primary keys and calls services, nothing more."""

from __future__ import annotations

from django.conf import settings
from django_q.tasks import async_task

from extraction.models import Field, FieldStatus
from extraction.services.extraction import field_extract
from extraction.services.staging import staging_expire, staging_usage_recompute


class FieldFailed(Exception):
    """A field that ended failed: raised so that django-q stores the task as a failure."""


def extract_field(field_id: int) -> str:
    """Extract one field. A failed field fails the task too, so that it is kept in the
    admin's "Failed tasks" list (successes are not stored); the field row says why.

    Not when tasks run inline (``DSSPORTAL_TASKS_SYNC``): django-q re-raises there instead
    of recording, which would turn one failed field into an error for whoever sent the list.
    """
    status = field_extract(field_id=field_id)
    if status == FieldStatus.FAILED and not settings.Q_CLUSTER.get("sync"):
        message = Field.objects.values_list("message", flat=True).get(pk=field_id)
        raise FieldFailed(f"field {field_id} failed: {message}")
    return status


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
