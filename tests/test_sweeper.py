"""The sweeper's decisions, in-process: which fields it takes back, and which it leaves alone.
(tests/test_faults.py does the same with real clusters being killed.)"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from extraction.models import Field, Request
from extraction.services.extraction import scratch_dir, scratch_root
from extraction.services.leases import lease_release, lease_take
from extraction.services.requests import request_create_from_text
from extraction.services.sweeper import fields_reclaim, scratch_of_dead_processes_remove
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "f{n} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"


@contextmanager
def lease_held_elsewhere(field_id: int) -> Iterator[None]:
    """Hold the lease from another thread: its own connection (PostgreSQL) or descriptor."""
    taken, done = threading.Event(), threading.Event()

    def worker() -> None:
        try:
            assert lease_take(field_id)
            taken.set()
            done.wait(30)
            lease_release(field_id, finished=False)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    assert taken.wait(30)
    try:
        yield
    finally:
        done.set()
        thread.join(30)


@pytest.fixture
def fields(make_user, monkeypatch) -> list[Field]:
    register_real_dss_plate()
    monkeypatch.setattr("extraction.tasks.enqueue_field", lambda field_id: None)
    text = "\n".join(LINE.format(n=n) for n in range(3))
    request = request_create_from_text(user=make_user(), text=text, source="mail").request
    Request.objects.filter(pk=request.pk).update(received_at=timezone.now() - timedelta(minutes=1))
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


def test_queued_fields_are_re_enqueued_only_when_the_broker_has_nothing_waiting(
    fields: list[Field],
) -> None:
    assert fields_reclaim(broker_idle=False).orphaned == []
    assert fields_reclaim(broker_idle=True).orphaned == [f.pk for f in fields]
    # A request younger than the grace period may still be enqueueing its fields.
    Request.objects.update(received_at=timezone.now())
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
