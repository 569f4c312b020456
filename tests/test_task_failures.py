"""The task interface: a failed field is kept in django-q's failure list, a served one is not."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone
from django_q.models import Failure, Success
from django_q.signing import SignedPackage
from django_q.tasks import _sync

from extraction import tasks
from extraction.models import FieldStatus
from extraction.services.requests import request_create_from_text
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "real 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"


def broken(*args: object) -> None:
    raise RuntimeError("disk on fire")


def run_like_a_cluster(field_id: int) -> None:
    """One task through django-q's own worker and monitor, in this process, as a cluster
    runs it (not as a sync task, which django-q re-raises instead of recording)."""
    task = {
        "id": uuid.uuid4().hex,
        "name": f"field-{field_id}",
        "func": "extraction.tasks.extract_field",
        "args": (field_id,),
        "kwargs": {},
        "started": timezone.now(),
    }
    _sync(SignedPackage.dumps(task))


def test_a_failed_field_is_kept_as_a_failed_task(make_user, monkeypatch, settings) -> None:
    register_real_dss_plate()
    user = make_user()
    field = request_create_from_text(user=user, text=LINE, source="web").fields[0]
    monkeypatch.setattr("extraction.services.extraction._cut_image", broken)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    run_like_a_cluster(field.pk)
    field.refresh_from_db()
    assert field.status == FieldStatus.FAILED
    failure = Failure.objects.get()
    assert failure.name == f"field-{field.pk}" and "disk on fire" not in failure.result
    assert f"field {field.pk} failed: internal error (RuntimeError)" in failure.result


def test_inline_tasks_never_raise_for_a_failed_field(make_user, monkeypatch) -> None:
    register_real_dss_plate()
    user = make_user()
    field = request_create_from_text(user=user, text=LINE, source="web").fields[0]
    monkeypatch.setattr("extraction.services.extraction._cut_image", broken)
    tasks.enqueue_field(field.pk)  # inline in tests (Q_CLUSTER sync): no exception
    field.refresh_from_db()
    assert field.status == FieldStatus.FAILED


def test_a_served_field_leaves_no_task_row(make_user) -> None:
    register_real_dss_plate()
    user = make_user()
    field = request_create_from_text(user=user, text=LINE, source="web").fields[0]
    run_like_a_cluster(field.pk)
    field.refresh_from_db()
    assert field.status == FieldStatus.DONE
    assert not Failure.objects.exists() and not Success.objects.exists()
