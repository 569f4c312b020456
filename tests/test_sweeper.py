"""The sweeper's decisions, in-process: which fields it takes back, and which it leaves alone.
(tests/test_faults.py does the same with real clusters being killed.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from extraction.models import Field, Request
from extraction.services import worker
from extraction.services.extraction import scratch_dir, scratch_root
from extraction.services.leases import lease_release, lease_take
from extraction.services.requests import request_create_from_text
from extraction.services.sweeper import (
    fields_reclaim,
    preview_partials_stale_remove,
    requests_settle_stalled,
    scratch_of_dead_processes_remove,
)
from tests.factories import register_real_dss_plate
from tests.threads import held_elsewhere

pytestmark = pytest.mark.django_db

LINE = "f{n} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"


@contextmanager
def field_lease(field_id: int) -> Iterator[None]:
    assert lease_take(field_id)
    try:
        yield
    finally:
        lease_release(field_id, finished=False)


def lease_held_elsewhere(field_id: int) -> AbstractContextManager[None]:
    """A live worker holding the field's lease."""
    return held_elsewhere(lambda: field_lease(field_id))


@pytest.fixture
def fields(make_user, monkeypatch) -> list[Field]:
    register_real_dss_plate()
    monkeypatch.setattr("extraction.services.queue.enqueue_field", lambda field_id, **_: None)
    text = "\n".join(LINE.format(n=n) for n in range(3))
    request = request_create_from_text(user=make_user(), text=text, source="mail").request
    # Stored a minute ago (the rows carry their tasks' enqueue times), the tasks never sent.
    a_minute_ago = timezone.now() - timedelta(minutes=1)
    Request.objects.filter(pk=request.pk).update(received_at=a_minute_ago)
    request.fields.update(enqueued_at=a_minute_ago)
    return list(request.fields.order_by("line_no"))


def test_a_running_field_without_a_live_worker_is_put_back_and_one_with_a_worker_is_not(
    fields: list[Field],
) -> None:
    abandoned, worked_on, _queued = fields
    Field.objects.filter(pk__in=[abandoned.pk, worked_on.pk]).update(
        status="running", started_at=timezone.now()
    )
    with lease_held_elsewhere(worked_on.pk):  # a live worker holds this one
        reclaimed = fields_reclaim(broker_idle=False)
    assert reclaimed.abandoned == [abandoned.pk]
    assert reclaimed.orphaned == []
    statuses = dict(Field.objects.values_list("pk", "status"))
    assert statuses[abandoned.pk] == "queued" and statuses[worked_on.pk] == "running"


def test_queued_fields_nothing_tells_about_are_re_enqueued_only_when_the_broker_is_idle(
    fields: list[Field],
) -> None:
    assert fields_reclaim(broker_idle=False).orphaned == []
    assert fields_reclaim(broker_idle=True).orphaned == [f.pk for f in fields]
    # A request younger than the grace period may still be enqueueing its fields.
    Request.objects.update(received_at=timezone.now())
    Field.objects.update(enqueued_at=timezone.now())
    assert fields_reclaim(broker_idle=True).orphaned == []
    Field.objects.update(enqueued_at=None)  # stored before enqueue times were: received_at
    assert fields_reclaim(broker_idle=True).orphaned == []


def test_finished_fields_are_never_touched(fields: list[Field]) -> None:
    Field.objects.update(status="done", finished_at=timezone.now())
    assert fields_reclaim(broker_idle=True).field_ids == []
    assert set(Field.objects.values_list("status", flat=True)) == {"done"}


def test_scratch_of_a_dead_process_is_removed_and_a_live_ones_is_kept() -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_folder = scratch_root() / f"{os.uname().nodename}-{int(dead.stdout)}"
    dead_folder.mkdir(parents=True)
    (dead_folder / "f1.fits.abc.part").write_bytes(b"half")
    live_folder = scratch_dir()
    live_folder.mkdir(parents=True, exist_ok=True)
    (live_folder / "f2.fits.def.part").write_bytes(b"being written")

    assert scratch_of_dead_processes_remove() == [dead_folder.name]
    assert not dead_folder.exists()
    assert (live_folder / "f2.fits.def.part").exists()


def stamp(field: Field, *, enqueued: timedelta, **values: object) -> None:
    """Say when the field's task was enqueued (that long ago), and what became of it."""
    Field.objects.filter(pk=field.pk).update(enqueued_at=timezone.now() - enqueued, **values)


def test_a_queued_field_whose_task_left_the_queue_before_a_taken_one_is_reclaimed_while_busy(
    fields: list[Field],
) -> None:
    lost, later, waiting = fields
    stamp(lost, enqueued=timedelta(seconds=60))
    stamp(waiting, enqueued=timedelta(seconds=10))
    # A task enqueued after the lost field's was taken (claimed) 20 s ago: FIFO says the lost
    # field's task left the broker before it. The waiting one was enqueued after it: not lost.
    stamp(
        later,
        enqueued=timedelta(seconds=30),
        status="done",
        started_at=timezone.now() - timedelta(seconds=20),
        finished_at=timezone.now() - timedelta(seconds=19),
    )
    assert fields_reclaim(broker_idle=False).orphaned == [lost.pk]


def test_a_task_taken_only_just_now_or_one_still_going_through_its_group_reclaims_nothing(
    fields: list[Field],
) -> None:
    in_group, group_mate, later = fields
    now = timezone.now()
    stamp(later, enqueued=timedelta(seconds=30), status="running", started_at=now)
    stamp(in_group, enqueued=timedelta(seconds=60))
    stamp(group_mate, enqueued=timedelta(seconds=60))
    # Taken within the grace period (a cluster may have prefetched the earlier task).
    assert fields_reclaim(broker_idle=False).orphaned == []

    Field.objects.filter(pk=later.pk).update(started_at=now - timedelta(seconds=20))
    # The earlier task is being worked through: one of its fields finished a moment ago.
    Field.objects.filter(pk=group_mate.pk).update(
        enqueued_at=Field.objects.get(pk=in_group.pk).enqueued_at,
        status="done",
        started_at=now - timedelta(seconds=2),
        finished_at=now - timedelta(seconds=1),
    )
    with lease_held_elsewhere(later.pk):
        assert fields_reclaim(broker_idle=False).orphaned == []
        # Its worker died after that field: nothing moves in the group any more.
        Field.objects.filter(pk=group_mate.pk).update(finished_at=now - timedelta(seconds=30))
        assert fields_reclaim(broker_idle=False).orphaned == [in_group.pk]


def test_a_field_just_enqueued_again_is_not_reclaimed_even_when_the_broker_looks_idle(
    fields: list[Field],
) -> None:
    fresh, *_ = fields
    stamp(fresh, enqueued=timedelta(seconds=1))  # its task may sit in a cluster's prefetch
    assert fresh.pk not in fields_reclaim(broker_idle=True).orphaned


def test_a_request_whose_last_settle_was_cut_is_finished_by_the_sweeper_once(
    fields: list[Field], django_capture_on_commit_callbacks
) -> None:
    # Every field ended, but the worker of the last one died before it settled the request.
    Field.objects.update(status="done", finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert requests_settle_stalled() == [fields[0].request_id]
        assert requests_settle_stalled() == []
    request = Request.objects.get(pk=fields[0].request_id)
    assert request.status == "done" and request.notified_at is not None
    assert request.mailed_at is not None  # the completion mail went out after the commit


def test_a_request_with_a_field_still_open_is_not_settled(fields: list[Field]) -> None:
    Field.objects.filter(pk=fields[0].pk).update(status="done", finished_at=timezone.now())
    assert requests_settle_stalled() == []


def test_a_requests_tasks_are_marked_enqueued_in_queue_order(
    make_user, django_capture_on_commit_callbacks
) -> None:
    """The orphan rule reads the queue's order from ``enqueued_at``: 40 fields go as 8 tasks
    of 5 (2 workers), marked in one transaction a microsecond apart, in the order pushed."""
    register_real_dss_plate()
    text = "\n".join(LINE.format(n=n) for n in range(40))
    with django_capture_on_commit_callbacks(execute=True):
        request = request_create_from_text(user=make_user(), text=text, source="mail").request
    marks = list(request.fields.order_by("line_no").values_list("enqueued_at", flat=True))
    assert None not in marks
    tasks = [marks[i : i + 5] for i in range(0, 40, 5)]
    assert all(len(set(task)) == 1 for task in tasks)  # one mark per task
    firsts = [task[0] for task in tasks]
    assert firsts == sorted(firsts) and len(set(firsts)) == 8


def test_partial_previews_of_dead_web_processes_are_removed_by_age(settings) -> None:
    """A web process killed while writing a quick-look leaves its .part file behind."""
    folder = Path(settings.PREVIEWS_DIR) / ".partial"
    folder.mkdir(parents=True, exist_ok=True)
    stale, fresh = folder / ".a.png.0123456789ab.part", folder / ".b.png.ba9876543210.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert preview_partials_stale_remove() == [stale.name]
    assert not stale.exists() and fresh.exists()  # one being written now is left alone


def test_a_sweep_reports_what_it_did_and_whether_anything_was_done(
    fields: list[Field], monkeypatch
) -> None:
    """The sweeper thread logs a sweep only when it did something: the report says so, not
    its text."""
    sent: list[list[int]] = []
    monkeypatch.setattr(
        "extraction.services.queue.enqueue_fields", lambda ids, **_: sent.append(ids)
    )
    monkeypatch.setattr("extraction.services.queue.broker_idle", lambda: False)
    Field.objects.filter(pk=fields[0].pk).update(status="running", started_at=timezone.now())

    report = worker.sweep(orphans=False)
    assert report.taken and report.anything_done
    assert list(report.abandoned) == [fields[0].pk] and sent == [[fields[0].pk]]
    assert str(report).startswith("re-enqueued 1 abandoned, 0 orphaned;")

    idle = worker.sweep(orphans=False)
    assert idle.taken and not idle.anything_done
    assert "re-enqueued 0 abandoned" in str(idle) and sent == [[fields[0].pk]]
