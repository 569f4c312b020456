"""What a task of fields costs the database (issue 23, throughput): leases, claim, load, the
request's move to running and the transaction that publishes the fields (their moves to done in
one statement) once per task, whatever its size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from extraction import tasks
from extraction.models import FieldStatus
from extraction.services import staging
from extraction.services.requests import request_create_from_text
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "f{n} 14 29 56 -62 41 05 1. 1. J2000 DSS1 e U"  # the plate of the best edge distance


@pytest.fixture(autouse=True)
def private_dirs(settings, tmp_path):
    settings.STAGING_DIR = tmp_path / "staging"
    # The staging directories this process remembers by request id: an earlier test in this
    # worker may have left one under an id the test database hands out again, which costs
    # the first publish one guarded update more (it fails, and the row is read afresh).
    staging._directories.clear()


def task_queries(user, n_fields: int, capture) -> list[str]:
    text = "\n".join(LINE.format(n=n) for n in range(n_fields))
    with capture(execute=False):  # stored, not run: the queue holds the fields
        request = request_create_from_text(user=user, text=text, source="web").request
    field_ids = list(request.fields.order_by("line_no").values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as queries, capture(execute=True):
        assert tasks.extract_fields(field_ids) == ", ".join(["done"] * n_fields)
    assert set(request.fields.values_list("status", flat=True)) == {FieldStatus.DONE}
    return [query["sql"] for query in queries.captured_queries]


def statements(sqls: list[str]) -> list[str]:
    """The statements, without the savepoints that stand for transactions inside the test's."""
    return [sql for sql in sqls if "SAVEPOINT" not in sql]


def transactions(sqls: list[str]) -> int:
    return sum(sql.startswith("SAVEPOINT") for sql in sqls)


def count(sqls: list[str], start: str) -> int:
    return sum(sql.startswith(start) for sql in sqls)


def test_a_task_costs_the_same_statements_and_one_publishing_transaction_whatever_its_size(
    make_user, django_capture_on_commit_callbacks
):
    register_real_dss_plate()
    user = make_user()
    task_queries(user, 1, django_capture_on_commit_callbacks)  # the plate index, cached
    small = task_queries(user, 2, django_capture_on_commit_callbacks)
    large = task_queries(user, 6, django_capture_on_commit_callbacks)
    assert len(statements(large)) == len(statements(small))
    assert transactions(large) == transactions(small)
    for sqls in (small, large):  # one move to done and one update of the directory's bytes
        assert count(sqls, 'UPDATE "extraction_field" SET "status" = \'done\'') == 1
        assert count(sqls, 'UPDATE "extraction_stagingdirectory"') == 1
    for sqls in (small, large):  # once per task, whatever its size
        assert count(sqls, 'UPDATE "extraction_field" SET "status" = \'running\'') == 1
        assert count(sqls, 'SELECT "extraction_field"."id"') == 2  # the load; the mail's list
        assert count(sqls, 'UPDATE "extraction_request" SET "status" = \'running\'') == 1
        if connection.vendor == "postgresql":  # the leases (SQLite's are lock files)
            assert count(sqls, "SELECT key, pg_try_advisory_lock(key)") == 1
            assert count(sqls, "SELECT pg_advisory_unlock(key)") == 1
            # the fields' leases, taken and given up; the completion mail's lease, the same
            assert sum("advisory" in sql for sql in sqls) == 4


def test_fields_that_wait_too_long_are_published_without_the_rest_of_the_task(
    make_user, django_capture_on_commit_callbacks, monkeypatch
):
    """Slow fields (mosaics) show their progress: once the first made field has waited
    ``PUBLISH_WITHIN_S``, what is made is published (here at once: one transaction each)."""
    from extraction.services import extraction

    register_real_dss_plate()
    user = make_user()
    task_queries(user, 1, django_capture_on_commit_callbacks)  # the plate index, cached
    monkeypatch.setattr(extraction, "PUBLISH_WITHIN_S", 0.0)
    small = task_queries(user, 2, django_capture_on_commit_callbacks)
    large = task_queries(user, 6, django_capture_on_commit_callbacks)
    assert transactions(large) - transactions(small) == 4
    assert count(large, 'UPDATE "extraction_stagingdirectory"') == 6


def test_a_new_request_is_stored_with_its_tasks_enqueue_times_and_not_updated_after(
    make_user, django_capture_on_commit_callbacks, monkeypatch, settings
):
    """The rows of a new request carry their tasks' ``enqueued_at`` when inserted (the
    sweeper's order); its first enqueue writes nothing more (issue 23: the mail gate)."""
    from extraction.services import queue

    settings.DSSPORTAL_FIELDS_PER_TASK = 4
    sent: list[list[int]] = []

    def enqueue(task, *args, task_name, broker=None):
        sent.append(list(args[0]) if task == queue.EXTRACT_FIELDS else [args[0]])

    monkeypatch.setattr(queue, "enqueue", enqueue)
    text = "\n".join(LINE.format(n=n) for n in range(40))
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        request = request_create_from_text(user=make_user(), text=text, source="mail").request
    sqls = [query["sql"] for query in queries.captured_queries]
    assert count(sqls, 'UPDATE "extraction_field"') == 0
    assert [len(task) for task in sent] == [4] * 10
    stamps = dict(request.fields.values_list("pk", "enqueued_at"))
    per_task = [{stamps[pk] for pk in task} for task in sent]
    assert all(len(times) == 1 for times in per_task)  # one time per task
    in_order = [times.pop() for times in per_task]
    assert in_order == sorted(set(in_order))  # later tasks, later times
