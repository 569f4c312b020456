"""The task interface: a failed field is kept in django-q's failure list, a served one is not."""

from __future__ import annotations

import errno
import uuid

import pytest
from django.db import OperationalError
from django.utils import timezone
from django_q.models import Failure, Success
from django_q.signing import SignedPackage
from django_q.tasks import _sync

from extraction import tasks
from extraction.models import Field, FieldStatus, StagingDirectory
from extraction.services import extraction as extraction_service
from extraction.services import queue, staging, worker
from extraction.services.requests import request_create_from_text
from extraction.services.sweeper import fields_reclaim
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
    queue.enqueue_field(field.pk)  # inline in tests (Q_CLUSTER sync): no exception
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


def test_a_database_error_mid_group_is_waited_out_and_the_group_goes_on(
    make_user, monkeypatch
) -> None:
    """The database goes away under the first field of a grouped task: the task drops the
    connection, waits for an answer, does that field again and the rest; nothing fails."""
    register_real_dss_plate()
    text = "\n".join(LINE.replace("real", f"f{n}") for n in range(3))
    monkeypatch.setattr("extraction.services.queue.enqueue_fields", lambda field_ids, **_: None)
    request = request_create_from_text(user=make_user(), text=text, source="mail").request
    field_ids = list(request.fields.order_by("line_no").values_list("pk", flat=True))
    real_publish = extraction_service._group_publish
    cut = []

    def publish_with_a_restart(group):  # the server restarts as the first files are recorded
        if not cut:
            cut.append([m.field.pk for m in group])
            raise OperationalError("terminating connection due to administrator command")
        return real_publish(group)

    waits: list[float] = []
    monkeypatch.setattr(extraction_service, "_group_publish", publish_with_a_restart)
    monkeypatch.setattr(worker, "database_wait", lambda *, timeout: waits.append(timeout) or True)
    assert tasks.extract_fields(field_ids) == "done, done, done"
    assert cut == [field_ids] and waits == [worker.DATABASE_WAIT_SECONDS]  # published together
    assert set(Field.objects.filter(pk__in=field_ids).values_list("status", flat=True)) == {"done"}


def test_a_database_that_stays_away_leaves_the_fields_to_the_sweepers(
    make_user, monkeypatch
) -> None:
    register_real_dss_plate()
    monkeypatch.setattr("extraction.services.queue.enqueue_field", lambda field_id, **_: None)
    field = request_create_from_text(user=make_user(), text=LINE, source="web").fields[0]

    def down(group):
        raise OperationalError("connection refused")

    monkeypatch.setattr(extraction_service, "_group_publish", down)
    monkeypatch.setattr(worker, "database_wait", lambda *, timeout: False)
    with pytest.raises(OperationalError):
        tasks.extract_fields([field.pk])
    field.refresh_from_db()
    assert field.status == "running"  # not failed: the sweeper takes it back (no lease held)


def three_fields(make_user) -> list[int]:
    register_real_dss_plate()
    text = "\n".join(LINE.replace("real", f"f{n}") for n in range(3))
    request = request_create_from_text(user=make_user(), text=text, source="mail").request
    return list(request.fields.order_by("line_no").values_list("pk", flat=True))


def test_a_database_error_after_a_field_ended_leaves_it_alone_and_the_rest_go_on(
    make_user, monkeypatch
) -> None:
    """The task's fields are claimed together: after an error under its second field, the
    first (done) is not done again, and the second and third are leased and claimed again."""
    monkeypatch.setattr("extraction.services.queue.enqueue_fields", lambda field_ids, **_: None)
    monkeypatch.setattr(extraction_service, "PUBLISH_WITHIN_S", 0.0)  # each field on its own
    field_ids = three_fields(make_user)
    real_publish = extraction_service._group_publish
    published: list[int] = []

    def publish_with_a_restart(group):
        (made,) = group
        if made.field.pk == field_ids[1] and published == field_ids[:1]:
            published.append(-1)
            raise OperationalError("terminating connection due to administrator command")
        published.append(made.field.pk)
        return real_publish(group)

    monkeypatch.setattr(extraction_service, "_group_publish", publish_with_a_restart)
    monkeypatch.setattr(worker, "database_wait", lambda *, timeout: True)
    assert tasks.extract_fields(field_ids) == "done, done, done"
    assert published == [field_ids[0], -1, field_ids[1], field_ids[2]]
    attempts = dict(Field.objects.filter(pk__in=field_ids).values_list("pk", "attempts"))
    assert attempts == {field_ids[0]: 1, field_ids[1]: 2, field_ids[2]: 2}


class WorkerKilled(BaseException):
    """What a worker's death looks like from inside: nothing of the task's code runs on."""


def test_the_fields_a_killed_task_had_not_finished_are_taken_back_by_the_sweeper(
    make_user, monkeypatch
) -> None:
    monkeypatch.setattr("extraction.services.queue.enqueue_fields", lambda field_ids, **_: None)
    monkeypatch.setattr(extraction_service, "PUBLISH_WITHIN_S", 0.0)  # each field on its own
    field_ids = three_fields(make_user)
    real_publish = extraction_service._group_publish

    def killed_at_the_second(group):
        if group[0].field.pk == field_ids[1]:
            raise WorkerKilled
        return real_publish(group)

    with monkeypatch.context() as patch:
        patch.setattr(extraction_service, "_group_publish", killed_at_the_second)
        with pytest.raises(WorkerKilled):
            tasks.extract_fields(field_ids)
    statuses = dict(Field.objects.filter(pk__in=field_ids).values_list("pk", "status"))
    assert statuses == {field_ids[0]: "done", field_ids[1]: "running", field_ids[2]: "running"}
    reclaimed = fields_reclaim(broker_idle=False, orphans=False)
    assert sorted(reclaimed.abandoned) == field_ids[1:]  # no lease held: both taken back
    assert tasks.extract_fields(field_ids) == "not claimed, done, done"
    assert Field.objects.get(pk=field_ids[0]).attempts == 1  # the done field was not redone


def test_a_task_killed_before_it_published_its_fields_leaves_them_all_to_the_sweeper(
    make_user, monkeypatch, settings, tmp_path
) -> None:
    """A task publishes the fields it has made together: killed before that, none is done,
    none is lost (the sweeper takes all back), and no file made aside is left behind."""
    settings.STAGING_DIR = tmp_path / "staging"  # the scratch folder of this test alone
    monkeypatch.setattr("extraction.services.queue.enqueue_fields", lambda field_ids, **_: None)
    field_ids = three_fields(make_user)

    def killed(group):
        assert [m.field.pk for m in group] == field_ids  # made, written aside, not published
        raise WorkerKilled

    with monkeypatch.context() as patch:
        patch.setattr(extraction_service, "_group_publish", killed)
        with pytest.raises(WorkerKilled):
            tasks.extract_fields(field_ids)
    assert set(Field.objects.filter(pk__in=field_ids).values_list("status", flat=True)) == {
        "running"
    }
    assert list(extraction_service.scratch_root().rglob("*.part")) == []
    reclaimed = fields_reclaim(broker_idle=False, orphans=False)
    assert sorted(reclaimed.abandoned) == field_ids
    assert tasks.extract_fields(field_ids) == "done, done, done"


def test_files_that_cannot_be_flushed_to_disk_are_not_published(
    make_user, monkeypatch, settings, tmp_path
) -> None:
    """Files are flushed in the background while the next field is made; publishing waits
    for the flush, and a flush that fails (a disk error) publishes nothing: the fields fail
    with the reason, no file appears, no byte is counted."""
    settings.STAGING_DIR = tmp_path / "staging"
    monkeypatch.setattr("extraction.services.queue.enqueue_fields", lambda field_ids, **_: None)
    field_ids = three_fields(make_user)

    def broken_disk(path):
        raise OSError(errno.EIO, "Input/output error", str(path))

    monkeypatch.setattr(staging, "flush_to_disk", broken_disk)
    assert tasks.extract_fields(field_ids) == "failed, failed, failed"
    messages = set(Field.objects.filter(pk__in=field_ids).values_list("message", flat=True))
    assert messages == {"internal error (OSError); the archive staff can retry it."}
    assert not StagingDirectory.objects.exists()  # created by the first file published
    assert [p for p in settings.STAGING_DIR.rglob("*") if p.is_file()] == []
