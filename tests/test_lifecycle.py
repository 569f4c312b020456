"""The request and field state machine (extraction.services.lifecycle) through the services,
the admin actions, the mail gate and the request page."""

from __future__ import annotations

import os
import threading
from email import policy
from email.message import EmailMessage as MimeMessage
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from extraction import tasks
from extraction.core import cut as core_cut
from extraction.mail.gate import mail_handle
from extraction.models import Field, Request, StagingDirectory
from extraction.services import queue
from extraction.services import staging as staging_service
from extraction.services.extraction import field_extract
from extraction.services.lifecycle import request_final_status, request_settle
from extraction.services.previews import preview_path
from extraction.services.requests import (
    fields_retry_failed,
    request_cancel,
    request_create_from_text,
)
from extraction.services.staging import (
    directory_bytes,
    staging_bytes_used,
    staging_directory_delete,
)
from extraction.text.naming import file_stem, file_stems_unique
from extraction.text.requestlist import parse_request_list
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINE = "{name} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 {c}"
UNKNOWN_PLATE = "nowhere 02 00 00 +80 00 00 1. 1. J2000 DSS1 e U"  # no plate covers it
PLATE_LIST = "plates 14 29 56 -62 41 05 1. 1. J2000 DSS1 n"
DELETE_ADDRESS = "dss-delete@archive.example"


@pytest.fixture(autouse=True)
def private_dirs(settings, tmp_path):
    settings.STAGING_DIR = tmp_path / "staging"
    settings.PREVIEWS_DIR = tmp_path / "previews"
    settings.DSSPORTAL_DELETE_ADDRESS = DELETE_ADDRESS
    settings.DSSPORTAL_REQUEST_ADDRESS = "dss@archive.example"


@pytest.fixture
def plate():
    return register_real_dss_plate()[0]


def lines(*names: str, c: str = "U") -> str:
    return "\n".join(LINE.format(name=n, c=c) for n in names)


def stored(user, text: str, capture) -> Request:
    """A request whose fields are queued but not yet run (the queue holds them)."""
    with capture(execute=False):
        outcome = request_create_from_text(user=user, text=text, source="web")
    return outcome.request


def run(field: Field, capture) -> str:
    with capture(execute=True):
        return field_extract(field_id=field.pk)


def fail(field: Field, capture, monkeypatch) -> str:
    """Run a field while the cut-out raises, as a fault of ours would."""

    def broken(**kwargs):
        raise OSError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(core_cut, "cutout_build", broken)
        return run(field, capture)


def flat(text: str) -> str:
    """Mail text with its line wrapping undone."""
    return " ".join(text.split())


def completion_mails(request: Request) -> list:
    return [m for m in mail.outbox if m.subject.startswith(f"DSS request #{request.pk}:")]


# -- The final state of a request ----------------------------------------------------------


@pytest.mark.parametrize(
    ("n_done", "n_cancelled", "expected"),
    [(3, 0, "done"), (1, 0, "partial"), (0, 0, "failed"), (3, 0, "done"), (2, 1, "cancelled")],
)
def test_final_status_table(n_done, n_cancelled, expected):
    assert request_final_status(n_fields=3, n_done=n_done, n_cancelled=n_cancelled) == expected


def test_a_request_partly_served_is_partial_and_its_mail_says_so(
    make_user, plate, django_capture_on_commit_callbacks
):
    user = make_user()
    request = stored(user, lines("good") + "\n" + UNKNOWN_PLATE, django_capture_on_commit_callbacks)
    for field in request.fields.all():
        run(field, django_capture_on_commit_callbacks)
    request.refresh_from_db()
    assert (request.status, request.n_done, request.n_skipped) == ("partial", 1, 1)
    (message,) = completion_mails(request)
    assert "is partly done: 1 of 2 field(s) served, 1 not served." in flat(message.body)


def test_a_task_of_several_fields_settles_once_at_its_end_and_mails_once(
    make_user, plate, django_capture_on_commit_callbacks
):
    user = make_user()
    request = stored(user, lines("g1", "g2", "g3", "g4"), django_capture_on_commit_callbacks)
    first, *rest = request.fields.order_by("line_no").values_list("pk", flat=True)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.extract_fields([first])  # one field: the request is counted, no lock needed
    request.refresh_from_db()
    assert (request.status, request.n_done, request.notified_at) == ("running", 1, None)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.extract_fields(rest)
    request.refresh_from_db()
    assert (request.status, request.n_done) == ("done", 4)
    assert len(completion_mails(request)) == 1


def test_a_late_count_never_overwrites_an_ended_request(
    make_user, plate, django_capture_on_commit_callbacks
):
    """The lock-free count of a settle that still saw an open field (a stale snapshot) is not
    stored over the request a concurrent settle has ended."""
    user = make_user()
    request = stored(user, lines("s1", "s2"), django_capture_on_commit_callbacks)
    for field in request.fields.all():
        run(field, django_capture_on_commit_callbacks)
    ended = Request.objects.values().get(pk=request.pk)
    assert ended["status"] == "done" and ended["notified_at"] is not None
    # What the late settle saw: one field still running.
    Field.objects.filter(pk=request.fields.first().pk).update(status="running")
    with django_capture_on_commit_callbacks(execute=True):
        assert request_settle(request_id=request.pk) is False
    assert Request.objects.values().get(pk=request.pk) == ended
    assert len(completion_mails(request)) == 1


# -- Retry ---------------------------------------------------------------------------------


def test_retry_with_nothing_failed_leaves_the_request_unchanged(
    client, staff_user, make_user, plate, django_capture_on_commit_callbacks
):
    request = stored(make_user(), lines("a"), django_capture_on_commit_callbacks)
    run(request.fields.get(), django_capture_on_commit_callbacks)
    before = Request.objects.get(pk=request.pk)
    assert before.status == "done" and before.notified_at is not None
    assert fields_retry_failed(request=before) == 0
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:extraction_request_changelist"),
            {"action": "retry_failed_fields", "_selected_action": [request.pk]},
            follow=True,
        )
    assert "1 request(s) unchanged" in response.content.decode()
    after = Request.objects.get(pk=request.pk)
    assert (after.status, after.finished_at, after.notified_at, after.retries) == (
        "done",
        before.finished_at,
        before.notified_at,
        0,
    )
    assert len(completion_mails(request)) == 1


def test_retry_reopens_only_the_failed_fields_and_its_mail_says_it_follows_a_retry(
    client, staff_user, make_user, plate, monkeypatch, django_capture_on_commit_callbacks
):
    request = stored(make_user(), lines("good", "bad"), django_capture_on_commit_callbacks)
    good, bad = request.fields.order_by("line_no")
    run(good, django_capture_on_commit_callbacks)
    assert fail(bad, django_capture_on_commit_callbacks, monkeypatch) == "failed"
    request.refresh_from_db()
    assert request.status == "partial"
    (first,) = completion_mails(request)
    assert "follows a retry" not in flat(first.body) and "internal error (OSError)" in flat(
        first.body
    )
    good.refresh_from_db()

    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):  # the queue runs inline in tests
        client.post(
            reverse("admin:extraction_request_changelist"),
            {"action": "retry_failed_fields", "_selected_action": [request.pk]},
        )
    good_after = Field.objects.get(pk=good.pk)
    assert (good_after.attempts, good_after.finished_at) == (good.attempts, good.finished_at)
    bad.refresh_from_db()
    assert bad.status == "done" and bad.attempts == 2
    request.refresh_from_db()
    assert (request.status, request.retries, request.n_done) == ("done", 1, 2)
    _first_mail, second = completion_mails(request)
    assert second.subject.endswith("2 of 2 field(s) ready after retry")
    assert "This message follows a retry" in flat(second.body)
    assert "is complete: 2 of 2 field(s) served." in flat(second.body)


# -- Cancel --------------------------------------------------------------------------------


def test_staff_cancel_shows_cancelled_everywhere_and_the_admin_filter_matches(
    client, staff_user, make_user, plate, django_capture_on_commit_callbacks
):
    user = make_user()
    request = stored(user, lines("one", "two", "three"), django_capture_on_commit_callbacks)
    first = request.fields.order_by("line_no").first()
    run(first, django_capture_on_commit_callbacks)
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:extraction_request_changelist"),
            {"action": "cancel_requests", "_selected_action": [request.pk]},
        )
    request.refresh_from_db()
    assert (request.status, request.n_done, request.n_cancelled) == ("cancelled", 1, 2)
    statuses = list(request.fields.order_by("line_no").values_list("status", flat=True))
    assert statuses == ["done", "cancelled", "cancelled"]
    (message,) = completion_mails(request)
    assert "cancelled" in message.subject
    assert "was cancelled by the archive staff: 1 of 3 field(s) served." in flat(message.body)

    listing = client.get(reverse("admin:extraction_request_changelist"), {"status": "cancelled"})
    assert f"/admin/extraction/request/{request.pk}/change/" in listing.content.decode()
    client.force_login(user)
    page = client.get(reverse("request-detail", args=[request.pk])).content.decode()
    assert 'class="status status-cancelled">cancelled' in page
    assert "3 of 3 field(s) ended: 1 done, 2 cancelled." in page
    # Cancelling again changes nothing and sends nothing.
    assert request_cancel(request=request) == 0
    assert len(completion_mails(request)) == 1


# -- Staging directory only when a file is written; quota for plate lists ----------------


def test_a_request_whose_fields_are_all_skipped_creates_no_staging_directory(
    make_user, plate, django_capture_on_commit_callbacks, settings
):
    request = stored(make_user(), UNKNOWN_PLATE, django_capture_on_commit_callbacks)
    assert run(request.fields.get(), django_capture_on_commit_callbacks) == "skipped"
    request.refresh_from_db()
    assert request.status == "failed"
    assert not StagingDirectory.objects.filter(request=request).exists()
    assert not settings.STAGING_DIR.exists() or not any(
        p for p in settings.STAGING_DIR.rglob("*") if p.name != ".partial"
    )
    (message,) = completion_mails(request)
    assert "none of its 1 field(s) could be served" in flat(message.body)
    assert "ftp://" not in flat(message.body)


def test_plate_lists_count_against_the_quota(make_user, plate, django_capture_on_commit_callbacks):
    nothing = make_user(quota_mb=0)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = request_create_from_text(user=nothing, text=PLATE_LIST, source="web")
    field = outcome.request.fields.get()
    assert field.status == "skipped" and "staging quota" in field.message
    assert not StagingDirectory.objects.filter(user=nothing).exists()

    some = make_user(quota_mb=1)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = request_create_from_text(user=some, text=PLATE_LIST, source="web")
    field = outcome.request.fields.get()
    field.refresh_from_db()
    assert field.status == "done" and field.output_name == "plates.plates.txt"
    directory = outcome.request.staging
    directory.refresh_from_db()
    on_disk = (directory.absolute_path / field.output_name).stat().st_size
    assert directory.bytes == field.bytes == on_disk > 0
    assert staging_bytes_used(user=some) == on_disk


# -- Deletion: previews, "deleted" on the page, and deletion during extraction ------------


def deletion_mail(user, name: str) -> bytes:
    message = MimeMessage(policy=policy.SMTP)
    message["From"] = user.email
    message["To"] = DELETE_ADDRESS
    message["Subject"] = "delete"
    message["Message-ID"] = f"<del-{name}@example.org>"
    message.set_content(name + "\n")
    return message.as_bytes()


def test_deleting_by_mail_removes_previews_and_the_page_says_the_files_were_deleted(
    client, make_user, plate, django_capture_on_commit_callbacks, settings
):
    settings.DSSPORTAL_MAIL_DELETION = "any"  # a site that acts on any registered sender's list
    user = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = request_create_from_text(user=user, text=lines("m31", "m33"), source="web")
    request = outcome.request
    fields = list(request.fields.order_by("line_no"))
    previews = [preview_path(f) for f in fields]
    assert not any(p.exists() for p in previews)  # made on first view, not by extraction
    client.force_login(user)
    preview_url = reverse("field-preview", args=[request.pk, fields[0].stem])
    assert client.get(preview_url).status_code == 200
    assert previews[0].is_file() and not previews[1].exists()

    name = request.staging.name
    with django_capture_on_commit_callbacks(execute=True):
        mail_handle(deletion_mail(user, name))
    directory = StagingDirectory.objects.get(name=name)
    assert directory.deleted_at is not None and directory.bytes == 0
    assert not directory.absolute_path.exists()
    assert not any(p.exists() for p in previews)
    assert client.get(preview_url).status_code == 404
    deleted = list(Field.objects.filter(request=request).values_list("status", "deleted_at"))
    assert all(status == "done" and when == directory.deleted_at for status, when in deleted)
    page = client.get(reverse("request-detail", args=[request.pk])).content.decode()
    assert f"The staging directory {name} was deleted (deleted by mail)" in page
    assert "m31.fits: deleted" in page and "m33.fits: deleted" in page
    assert "<img" not in page
    request.refresh_from_db()
    assert request.status == "done"  # served, then deleted by its owner: still done


def test_a_deletion_while_the_request_is_filled_cancels_the_rest_and_the_mail_says_so(
    make_user, plate, monkeypatch, django_capture_on_commit_callbacks, settings
):
    """Issue 12 item 7: a deletion mailed while a worker is cutting a field."""
    settings.DSSPORTAL_MAIL_DELETION = "any"  # a site that acts on any registered sender's list
    user = make_user()
    request = stored(user, lines("f1", "f2", "f3", "f4"), django_capture_on_commit_callbacks)
    f1, f2, f3, _f4 = request.fields.order_by("line_no")
    run(f1, django_capture_on_commit_callbacks)
    directory = StagingDirectory.objects.get(request=request)
    real_cut = core_cut.cutout_build

    def cut_then_user_deletes(**kwargs):
        made = real_cut(**kwargs)
        with django_capture_on_commit_callbacks(execute=True):
            mail_handle(deletion_mail(user, directory.name))
        return made

    with monkeypatch.context() as patch:
        patch.setattr(core_cut, "cutout_build", cut_then_user_deletes)
        assert run(f2, django_capture_on_commit_callbacks) == "cancelled"
    assert run(f3, django_capture_on_commit_callbacks) == "not claimed"
    statuses = list(request.fields.order_by("line_no").values_list("status", flat=True))
    assert statuses == ["done", "cancelled", "cancelled", "cancelled"]
    directory.refresh_from_db()
    assert directory.deleted_at is not None and directory.bytes == 0
    assert not directory.absolute_path.exists()
    request.refresh_from_db()
    assert (request.status, request.n_done, request.n_cancelled) == ("cancelled", 1, 3)
    (message,) = completion_mails(request)
    assert "4 of 4" not in message.subject + flat(message.body)
    assert "staging directory deleted" in message.subject
    assert f"staging directory {directory.name} was deleted" in flat(message.body)
    assert "remaining 3 field(s) were cancelled" in flat(message.body)
    assert "ftp://" not in flat(message.body)
    assert fields_retry_failed(request=request) == 0  # nowhere to put files any more
    # The reply to the deletion list says so too: f3 and f4 were still queued (f2 was running).
    # (Sent twice here only because the test nests two on-commit captures.)
    replies = [m for m in mail.outbox if m.subject.startswith("DSS staging directories:")]
    assert replies
    for reply in replies:
        assert "2 field(s) of its request not yet made were cancelled" in flat(reply.body)


def test_a_field_after_its_directory_was_deleted_is_cancelled_not_written(
    make_user, plate, django_capture_on_commit_callbacks
):
    request = stored(make_user(), lines("x1", "x2"), django_capture_on_commit_callbacks)
    first, second = request.fields.order_by("line_no")
    run(first, django_capture_on_commit_callbacks)
    # A worker claimed the second field before the deletion (it is running, not queued).
    Field.objects.filter(pk=second.pk).update(status="running")
    directory = StagingDirectory.objects.get(request=request)
    staging_directory_delete(directory=directory, reason="deleted over FTP")
    Field.objects.filter(pk=second.pk).update(status="queued")  # the queue hands it back
    assert run(second, django_capture_on_commit_callbacks) == "cancelled"
    assert not directory.absolute_path.exists()


# -- File names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "stem"),
    [("-rf", "_rf"), (".hidden", "_hidden"), ("--x", "_-x"), ("a/b c", "a_b_c"), ("M31", "M31")],
)
def test_file_stems_never_start_with_a_dash_or_dot(identifier, stem):
    assert file_stem(identifier) == stem


def test_file_stems_are_unique_ignoring_case():
    assert file_stems_unique(["A", "a", "a_2", "B"]) == ["A", "a_3", "a_2", "B"]
    parsed = parse_request_list(lines("NGC1", "ngc1", "-x"))
    stems = [line.field.stem for line in parsed.lines if line.field is not None]
    assert stems == ["NGC1", "ngc1_2", "_x"]


def test_the_receipt_states_the_file_name_rule(make_user):
    from django.template.loader import render_to_string

    help_text = " ".join(render_to_string("emails/_request_format.txt").split())
    assert "a leading - or . becomes _" in help_text and "ignoring case" in help_text


def test_staged_bytes_agree_with_the_disk(make_user, plate, django_capture_on_commit_callbacks):
    user = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = request_create_from_text(user=user, text=lines("d1", "d2", c="G"), source="web")
    directory = outcome.request.staging
    directory.refresh_from_db()
    assert directory.bytes == directory_bytes(directory.absolute_path) > 0
    assert sorted(os.listdir(directory.absolute_path)) == ["d1.fits.gz", "d2.fits.gz"]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_a_deletion_waits_for_the_file_being_published_then_cancels_the_rest(
    make_user, plate, monkeypatch
):
    """Issue 12 item 7 with two real threads: the deletion blocks on the directory's row
    while a worker writes its file, then removes it; never "Directory not empty"."""
    monkeypatch.setattr(queue, "enqueue_field", lambda field_id, **_: None)  # no worker: we are it
    user = make_user()
    request = request_create_from_text(
        user=user, text=lines("w0", "w1", "w2"), source="web"
    ).request
    zeroth, first, second = request.fields.order_by("line_no")
    assert field_extract(field_id=zeroth.pk) == "done"  # the directory exists from here on
    writing, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    class SlowToPlace:
        """``os`` for the staging service, whose rename of the published file (inside the
        publishing transaction, the directory's row locked) pauses until released."""

        def __getattr__(self, name: str) -> object:
            return getattr(os, name)

        @staticmethod
        def replace(source: Path, target: Path) -> None:
            os.replace(source, target)
            writing.set()
            release.wait(10)

    monkeypatch.setattr(staging_service, "os", SlowToPlace())

    def worker() -> None:
        try:
            outcomes["worker"] = field_extract(field_id=first.pk)
        finally:
            connection.close()

    def deleter() -> None:
        try:
            directory = StagingDirectory.objects.get(request_id=request.pk)
            outcomes["deletion"] = staging_directory_delete(directory=directory, reason="web")
        except Exception as exc:  # pragma: no cover - the failure this test exists for
            outcomes["deletion"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker)]
    threads[0].start()
    assert writing.wait(10)
    threads.append(threading.Thread(target=deleter))
    threads[1].start()
    threads[1].join(0.5)
    assert threads[1].is_alive(), "the deletion must wait for the file being written"
    release.set()
    for thread in threads:
        thread.join(10)
    assert outcomes["worker"] == "done"
    deletion = outcomes["deletion"]
    assert not isinstance(deletion, Exception), deletion
    zeroth_bytes = Field.objects.get(pk=zeroth.pk).bytes
    first_bytes = Field.objects.get(pk=first.pk).bytes
    assert deletion.freed_bytes == zeroth_bytes + first_bytes and deletion.cancelled_fields == 1
    directory = StagingDirectory.objects.get(request_id=request.pk)
    assert directory.bytes == 0 and not directory.absolute_path.exists()
    assert Field.objects.get(pk=first.pk).deleted_at == directory.deleted_at
    assert Field.objects.get(pk=second.pk).status == "cancelled"
    assert field_extract(field_id=second.pk) == "not claimed"
    request.refresh_from_db()
    assert (request.status, request.n_done, request.n_cancelled) == ("cancelled", 2, 1)
    (message,) = completion_mails(request)
    assert "3 of 3" not in message.subject and "directory deleted" in message.subject


def test_the_migration_puts_old_rows_in_the_new_states(
    make_user, plate, django_capture_on_commit_callbacks
):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("extraction.migrations.0004_request_lifecycle_states")
    user = make_user()
    staff_cancelled = stored(user, lines("c1", "c2"), django_capture_on_commit_callbacks)
    half = stored(user, lines("h1") + "\n" + UNKNOWN_PLATE, django_capture_on_commit_callbacks)
    for field in half.fields.all():
        run(field, django_capture_on_commit_callbacks)
    # How the old code left them: cancelled fields "skipped", every finished request "done".
    Field.objects.filter(request=staff_cancelled).update(
        status="skipped", message="cancelled by the archive staff"
    )
    Request.objects.filter(pk=staff_cancelled.pk).update(status="cancelled", n_skipped=2)
    Request.objects.filter(pk=half.pk).update(status="done")
    staging_directory_delete(directory=half.staging, reason="expired")
    Field.objects.update(deleted_at=None)

    migration.states_of_old_rows(apps, None)
    cancelled = Request.objects.get(pk=staff_cancelled.pk)
    assert (cancelled.status, cancelled.n_cancelled, cancelled.n_skipped) == ("cancelled", 2, 0)
    assert set(cancelled.fields.values_list("status", flat=True)) == {"cancelled"}
    assert Request.objects.get(pk=half.pk).status == "partial"
    assert half.fields.get(status="done").deleted_at is not None


def test_a_deletion_with_nothing_left_to_cancel_still_says_the_files_are_gone(
    make_user, plate, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    request = stored(
        make_user(), lines("s1") + "\n" + UNKNOWN_PLATE, django_capture_on_commit_callbacks
    )
    image, unknown = request.fields.order_by("line_no")
    run(image, django_capture_on_commit_callbacks)
    # A worker holds the second field (running) while the user deletes the directory...
    long_ago = timezone.now() - timedelta(hours=1)
    Field.objects.filter(pk=unknown.pk).update(status="running", started_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        staging_directory_delete(directory=request.staging, reason="deleted by mail")
    # ... and its task, retried, finds no plate: skipped, nothing cancelled.
    assert run(unknown, django_capture_on_commit_callbacks) == "skipped"
    request.refresh_from_db()
    assert (request.status, request.n_cancelled) == ("partial", 0)
    (message,) = completion_mails(request)
    assert message.subject.endswith("1 of 2 field(s) made, staging directory deleted")
    assert "no file of this request is left" in flat(message.body)
    assert "ftp://" not in message.body
