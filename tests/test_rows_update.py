"""``dssportal.infra.db.rows_update``: the same rows changed, to the same values, as the ORM's
``filter().update()`` it stands in for on the extraction's hot path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db.models import F

from dssportal.infra.db import rows_update, rows_update_each
from extraction.models import Field, FieldStatus, StagingDirectory
from extraction.services.requests import request_create_from_text
from extraction.services.staging import staging_directory_for_request

LINES = "\n".join(f"f{n} 00 42 44.3 +41 16 09 10 10 J2000 DSS2 e G" for n in range(3))


@pytest.fixture
def request_row(make_user):
    return request_create_from_text(user=make_user(), text=LINES, source="api").request


def _state(field: Field) -> tuple[object, ...]:
    field.refresh_from_db()
    return (field.status, field.finished_at, field.output_name, field.bytes, field.plate_id)


@pytest.mark.django_db
def test_an_update_matches_the_orms_values_and_guards(request_row, ngc7793_plate):
    plate = ngc7793_plate
    first, second, third = request_row.fields.order_by("pk")
    Field.objects.filter(pk__in=[first.pk, second.pk]).update(status=FieldStatus.RUNNING)
    at = datetime(2026, 12, 7, 6, 30, 15, 250000, tzinfo=UTC)
    values = {
        "status": FieldStatus.DONE,
        "finished_at": at,
        "output_name": "f0.fits.gz",
        "bytes": 123_456_789_012,
        "plate_id": plate.pk,
    }
    guard = {"status": FieldStatus.RUNNING}
    assert rows_update(Field, where={"pk": first.pk, **guard}, values=values) == 1
    assert Field.objects.filter(pk=second.pk, **guard).update(**values) == 1
    assert (
        _state(first)
        == _state(second)
        == (FieldStatus.DONE, at, "f0.fits.gz", 123_456_789_012, plate.pk)
    )
    # The guard holds: a field no longer running is not changed again, nor one never running.
    assert rows_update(Field, where={"pk": first.pk, **guard}, values={"bytes": 1}) == 0
    assert rows_update(Field, where={"pk": third.pk, **guard}, values={"bytes": 1}) == 0
    assert _state(first)[3] == 123_456_789_012 and _state(third)[3] is None


@pytest.mark.django_db
def test_an_increment_only_on_rows_whose_column_is_null(request_row):
    directory = staging_directory_for_request(request=request_row)
    live = {"pk": directory.pk, "name": directory.name, "deleted_at": None}
    assert rows_update(StagingDirectory, where=live, add={"bytes": 1000}) == 1
    assert rows_update(StagingDirectory, where=live, add={"bytes": 24}) == 1
    directory.refresh_from_db()
    assert directory.bytes == 1024
    StagingDirectory.objects.filter(pk=directory.pk).update(deleted_at=F("created_at"))
    assert rows_update(StagingDirectory, where=live, add={"bytes": 1}) == 0
    directory.refresh_from_db()
    assert directory.bytes == 1024


def test_a_name_that_is_not_a_column_is_refused():
    with pytest.raises(ValueError, match="is not a column"):
        rows_update(Field, where={"pk": 1}, values={"mosaic_plates": []})


@pytest.mark.django_db
def test_rows_among_primary_keys_with_a_guard(request_row):
    """``pks``: the rows of those keys that also meet ``where``, as ``filter(pk__in=...)``."""
    first, second, third = request_row.fields.order_by("pk")
    request_row.fields.update(enqueued_at=None)
    Field.objects.filter(pk=second.pk).update(status=FieldStatus.RUNNING)
    at = datetime(2026, 12, 7, 6, 30, 15, 250001, tzinfo=UTC)
    queued = {"status": FieldStatus.QUEUED}
    changed = rows_update(
        Field, where=queued, pks=[first.pk, second.pk], values={"enqueued_at": at}
    )
    assert changed == 1  # the second is running: the guard leaves it
    enqueued = dict(request_row.fields.values_list("pk", "enqueued_at"))
    assert enqueued == {first.pk: at, second.pk: None, third.pk: None}
    assert rows_update(Field, where=queued, pks=[], values={"enqueued_at": at}) == 0
    assert request_row.fields.filter(enqueued_at=at).count() == 1


@pytest.mark.django_db
def test_one_of_several_values_and_a_guarded_move(request_row):
    """A tuple in ``where`` is ``__in``; ``moves`` changes a column only where it holds the
    first value, as ``Case(When(...), default=F(...))`` does."""
    first, second, third = request_row.fields.order_by("pk")
    Field.objects.filter(pk=second.pk).update(status=FieldStatus.RUNNING)
    Field.objects.filter(pk=third.pk).update(status=FieldStatus.DONE)
    open_states = (FieldStatus.QUEUED, FieldStatus.RUNNING)
    changed = rows_update(
        Field,
        where={"status": open_states},
        pks=[first.pk, second.pk, third.pk],
        add={"attempts": 1},
        moves={"status": (FieldStatus.QUEUED, FieldStatus.FAILED)},
    )
    assert changed == 2  # the done one is not open
    rows = dict(request_row.fields.values_list("pk", "status"))
    assert rows == {first.pk: "failed", second.pk: "running", third.pk: "done"}
    attempts = dict(request_row.fields.values_list("pk", "attempts"))
    assert attempts == {first.pk: 1, second.pk: 1, third.pk: 0}
    assert rows_update(Field, where={"status": ()}, values={"bytes": 1}) == 0


@pytest.mark.django_db
def test_each_row_its_own_values_in_one_statement(request_row, ngc7793_plate):
    """``rows_update_each``: every row its own values (a NULL among them, a boolean), the
    shared ones, the guard; the keys of the rows changed come back."""
    first, second, third = request_row.fields.order_by("pk")
    Field.objects.filter(pk__in=[first.pk, second.pk]).update(status=FieldStatus.RUNNING)
    at = datetime(2026, 12, 7, 9, 30, 0, 125000, tzinfo=UTC)
    own = {
        first.pk: {
            "output_name": "a.fits",
            "bytes": 10,
            "plate_id": ngc7793_plate.pk,
            "clipped": True,
        },
        second.pk: {"output_name": "b.fits.gz", "bytes": 2**40, "plate_id": None, "clipped": False},
        third.pk: {"output_name": "c.fits", "bytes": 30, "plate_id": None, "clipped": False},
    }
    changed = rows_update_each(
        Field,
        rows=own,
        where={"status": FieldStatus.RUNNING},
        values={"status": FieldStatus.DONE, "finished_at": at},
    )
    assert changed == {first.pk, second.pk}  # the third was not running
    rows = {
        pk: (status, finished, name, size, plate, clipped)
        for pk, status, finished, name, size, plate, clipped in request_row.fields.values_list(
            "pk", "status", "finished_at", "output_name", "bytes", "plate_id", "clipped"
        )
    }
    assert rows[first.pk] == ("done", at, "a.fits", 10, ngc7793_plate.pk, True)
    assert rows[second.pk] == ("done", at, "b.fits.gz", 2**40, None, False)
    assert rows[third.pk] == ("queued", None, "", None, None, False)
    assert rows_update_each(Field, rows={}, where={"status": FieldStatus.RUNNING}) == set()
