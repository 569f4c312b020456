"""The staging-usage recount (expire_staging, hourly) against a worker publishing a file."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.db.models import F

from extraction.models import Request, StagingDirectory
from extraction.services import staging
from extraction.services.staging import (
    directory_bytes,
    staging_directory_for_request,
    staging_usage_recompute,
)


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_a_file_published_while_the_recount_measures_is_not_lost(make_user, monkeypatch):
    """The recount measured the folder, a worker published a file (bytes += size), then the
    recount stored its stale measure: the user's usage lost the file. The recount now holds
    the directory's row while it measures, so the worker's publish waits for it."""
    user = make_user()
    request = Request.objects.create(user=user, source="web", raw_text="x")
    directory = staging_directory_for_request(request=request)
    path = directory.absolute_path
    (path / "old.fits").write_bytes(b"o" * 1000)
    # Recorded usage has drifted from the disk (what the recount is there to mend).
    StagingDirectory.objects.filter(pk=directory.pk).update(bytes=900)

    measured, release = threading.Event(), threading.Event()
    real_measure = staging.directory_bytes

    def slow_measure(folder):
        size = real_measure(folder)
        measured.set()
        release.wait(5)
        return size

    monkeypatch.setattr(staging, "directory_bytes", slow_measure)

    def recount() -> None:
        try:
            staging_usage_recompute(user=user)
        finally:
            connection.close()

    def publish() -> None:  # what staging_file_publish does, in its order
        try:
            with transaction.atomic():
                StagingDirectory.objects.filter(pk=directory.pk).update(bytes=F("bytes") + 500)
                (path / "new.fits").write_bytes(b"n" * 500)
        finally:
            connection.close()

    counter = threading.Thread(target=recount)
    counter.start()
    assert measured.wait(5)
    worker = threading.Thread(target=publish)
    worker.start()
    worker.join(0.5)
    release.set()
    counter.join(10)
    worker.join(10)
    directory.refresh_from_db()
    assert directory.bytes == directory_bytes(path) == 1500
