"""Random sequences of submit / extract / fail / retry / cancel / delete / expire, checking after
every step that each request's state, its fields, the files on disk, the quota figures and the
mails sent agree (extraction.services.lifecycle).

The django-q queue is played by the machine: ``enqueue_field`` appends to a list, and the
``extract`` and ``fail`` rules take fields from it in any order, as workers would (a field may
also be handed out twice, as a retried task is).
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest
from django.core import mail
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from extraction import tasks
from extraction.core import cut as core_cut
from extraction.models import Field, Request, StagingDirectory
from extraction.services import extraction as extraction_service
from extraction.services import queue as queue_service
from extraction.services.previews import field_preview_file
from extraction.services.requests import (
    bytes_reserved,
    fields_retry_failed,
    request_cancel,
    request_create_from_text,
)
from extraction.services.staging import (
    directory_bytes,
    previews_dir,
    staging_bytes_used,
    staging_directory_delete,
    staging_expire,
)
from tests.factories import register_real_dss_plate

pytestmark = pytest.mark.django_db

LINES = {
    "image": "{name} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 {c}",
    "big": "{name} 14 29 56 -62 41 05 3. 3. J2000 DSS1 0025 {c}",
    "unknown": "{name} 02 00 00 +80 00 00 1. 1. J2000 DSS1 e {c}",
    "list": "{name} 14 29 56 -62 41 05 1. 1. J2000 DSS1 n",
}
OPEN = {"queued", "running"}


def expected_final(fields: list[Field]) -> str:
    """The final state of a request, written from the issue's words, not from the code."""
    statuses = [f.status for f in fields]
    if "cancelled" in statuses:
        return "cancelled"
    if all(s == "done" for s in statuses):
        return "done"
    if not any(s == "done" for s in statuses):
        return "failed"
    return "partial"


def test_random_request_lifecycles_agree_everywhere(
    make_user, django_capture_on_commit_callbacks, monkeypatch, settings, tmp_path
):
    register_real_dss_plate()
    settings.STAGING_DIR = tmp_path / "staging"
    settings.PREVIEWS_DIR = tmp_path / "previews"
    user = make_user(quota_mb=1)
    queue: list[int] = []
    monkeypatch.setattr(
        queue_service, "enqueue_field", lambda field_id, **_: queue.append(field_id)
    )
    capture = django_capture_on_commit_callbacks

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            Request.objects.all().delete()
            StagingDirectory.objects.all().delete()
            for folder in (settings.STAGING_DIR, settings.PREVIEWS_DIR):
                shutil.rmtree(folder, ignore_errors=True)
            mail.outbox.clear()
            queue.clear()
            self.names = 0
            self.mails: dict[int, int] = {}  # completion mails each request should have sent
            self.was_final: dict[int, bool] = {}

        # -- Rules ---------------------------------------------------------------------

        @rule(
            kinds=st.lists(st.sampled_from(sorted(LINES)), min_size=1, max_size=3),
            compression=st.sampled_from("GUB"),
        )
        def submit(self, kinds: list[str], compression: str) -> None:
            lines = []
            for kind in kinds:
                self.names += 1
                lines.append(LINES[kind].format(name=f"f{self.names}", c=compression))
            remaining = user.quota_bytes - staging_bytes_used(user=user) - bytes_reserved(user=user)
            with capture(execute=True):
                outcome = request_create_from_text(user=user, text="\n".join(lines), source="web")
            fields = list(outcome.request.fields.all())
            accepted = [f for f in fields if f.status == "queued"]
            assert sum(f.expected_bytes for f in accepted) <= max(0, remaining)
            for field in fields:
                if field.status == "skipped":
                    assert "staging quota" in field.message
                    assert field.expected_bytes > 0  # plate lists count too
            self.was_final[outcome.request.pk] = False

        @rule(data=st.data())
        def extract(self, data: st.DataObject) -> None:
            if queue:
                field_id = queue.pop(data.draw(st.integers(0, len(queue) - 1)))
                with capture(execute=True):
                    tasks.extract_field(field_id)

        @rule(data=st.data())
        def extract_several(self, data: st.DataObject) -> None:
            """A task of several fields (``extract_fields``), which settles once at its end."""
            if len(queue) < 2:
                return
            n = data.draw(st.integers(2, len(queue)))
            picked = [queue.pop(data.draw(st.integers(0, len(queue) - 1))) for _ in range(n)]
            with capture(execute=True):
                tasks.extract_fields(picked)

        @rule(data=st.data())
        def look_at_previews(self, data: st.DataObject) -> None:
            """The request page is opened: each served image's quick-look is made on first view."""
            request = self._pick_request(data)
            if request is None:
                return
            for field in request.fields.all():
                served = field.status == "done" and field.mode != "n" and field.deleted_at is None
                made = field_preview_file(field=field)
                assert (made is not None) == served, (field.status, field.mode)
                assert made is None or made.read_bytes().startswith(b"\x89PNG")

        @rule(data=st.data())
        def duplicate_task(self, data: st.DataObject) -> None:
            """A task delivered twice: the second run must change nothing."""
            done = list(Field.objects.exclude(status__in=OPEN).values_list("pk", flat=True))
            if done:
                field_id = data.draw(st.sampled_from(done))
                before = Field.objects.values().get(pk=field_id)
                with capture(execute=True):
                    assert tasks.extract_field(field_id) == "not claimed"
                assert Field.objects.values().get(pk=field_id) == before

        @rule(data=st.data())
        def fail(self, data: st.DataObject) -> None:
            if not queue:
                return
            field_id = queue.pop(data.draw(st.integers(0, len(queue) - 1)))

            def broken(*args: object, **kwargs: object) -> object:
                raise OSError("disk on fire")

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(core_cut, "cutout_build", broken)
                patch.setattr(extraction_service, "plates_table", broken)
                with capture(execute=True):
                    status = tasks.extract_field(field_id)
            assert status in ("failed", "skipped", "cancelled", "not claimed")

        @rule(data=st.data())
        def retry(self, data: st.DataObject) -> None:
            request = self._pick_request(data)
            if request is None:
                return
            before = Request.objects.values().get(pk=request.pk)
            failed = set(request.fields.filter(status="failed").values_list("pk", flat=True))
            with capture(execute=True):
                count = fields_retry_failed(request=request)
            after = Request.objects.values().get(pk=request.pk)
            if count == 0:
                assert after == before, "a request with nothing to retry is unchanged"
            else:
                assert count == len(failed)
                reopened = set(request.fields.filter(status="queued").values_list("pk", flat=True))
                assert failed <= reopened
                assert after["retries"] == before["retries"] + 1

        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            request = self._pick_request(data)
            if request is not None:
                with capture(execute=True):
                    request_cancel(request=request)

        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            live = list(StagingDirectory.objects.filter(deleted_at__isnull=True))
            if live:
                directory = data.draw(st.sampled_from(live))
                with capture(execute=True):
                    staging_directory_delete(directory=directory, reason="deleted by mail")

        @rule(data=st.data())
        def expire(self, data: st.DataObject) -> None:
            live = list(StagingDirectory.objects.filter(deleted_at__isnull=True))
            if live:
                directory = data.draw(st.sampled_from(live))
                with capture(execute=True):
                    staging_expire(now=directory.expires_at + timedelta(seconds=1))

        def _pick_request(self, data: st.DataObject) -> Request | None:
            requests = list(Request.objects.order_by("pk"))
            return data.draw(st.sampled_from(requests)) if requests else None

        # -- What must hold after every step -------------------------------------------

        @invariant()
        def requests_tell_the_truth(self) -> None:
            for request in Request.objects.all():
                fields = list(request.fields.all())
                statuses = [f.status for f in fields]
                assert "running" not in statuses  # every worker here finishes its field
                for name in ("done", "skipped", "failed", "cancelled"):
                    assert getattr(request, f"n_{name}") == statuses.count(name), name
                is_open = any(s in OPEN for s in statuses)
                if is_open:
                    assert request.status in OPEN and request.notified_at is None
                else:
                    assert request.status == expected_final(fields)
                    assert request.notified_at is not None and request.finished_at is not None
                    if not self.was_final.get(request.pk, False):
                        self.mails[request.pk] = self.mails.get(request.pk, 0) + 1
                self.was_final[request.pk] = not is_open
                self._mails_agree(request)

        def _mails_agree(self, request: Request) -> None:
            sent = [m for m in mail.outbox if m.subject.startswith(f"DSS request #{request.pk}:")]
            assert len(sent) == self.mails.get(request.pk, 0)
            if not sent or request.status in OPEN:
                return
            last = sent[-1]
            staging = StagingDirectory.objects.filter(request=request).first()
            deleted_midway = staging is not None and staging.deleted_at is not None
            if deleted_midway and "directory deleted" in last.subject:
                assert "ftp://" not in last.body
                if request.n_cancelled:
                    assert f"{request.n_fields} of {request.n_fields}" not in last.subject
            elif request.status != "cancelled":
                assert f"{request.n_done} of {request.n_fields} field(s)" in last.subject
                assert last.subject.endswith("after retry") == (request.retries > 0)
            body = " ".join(last.body.split())
            assert ("This message follows a retry" in body) == (request.retries > 0)

        @invariant()
        def files_and_quota_agree(self) -> None:
            total = 0
            for request in Request.objects.all():
                done = list(request.fields.filter(status="done"))
                staging = StagingDirectory.objects.filter(request=request).first()
                if staging is None:
                    assert not done
                    continue
                path = staging.absolute_path
                if staging.deleted_at is not None:
                    assert not path.exists() and staging.bytes == 0
                    assert not previews_dir(request.pk).exists()
                    assert all(f.deleted_at is not None for f in done)
                    continue
                assert done, "no staging directory without a file"
                assert all(f.deleted_at is None for f in done)
                assert sorted(os.listdir(path)) == sorted(f.output_name for f in done)
                on_disk = directory_bytes(path)
                assert staging.bytes == on_disk == sum(f.bytes or 0 for f in done)
                previews = previews_dir(request.pk)
                images = {f"{f.stem}.png" for f in done if f.mode != "n"}
                assert set(os.listdir(previews) if previews.exists() else []) <= images
                lowered = [name.lower() for name in os.listdir(path)]
                assert len(lowered) == len(set(lowered))
                total += on_disk
            assert staging_bytes_used(user=user) == total
            pending = Field.objects.filter(request__user=user, status__in=OPEN)
            assert bytes_reserved(user=user) == sum(f.expected_bytes for f in pending)

    run_state_machine_as_test(
        Lifecycle,
        settings=hypothesis_settings(
            max_examples=int(os.environ.get("LIFECYCLE_EXAMPLES", "8")),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
