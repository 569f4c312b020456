"""The completion mail as a transactional outbox (extraction.services.completion_mail): owed
in the settle transaction, sent after it, sent by the sweeper when the sender died, never by
two processes. (tests/test_faults.py kills a real cluster between the commit and the send.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.utils import timezone

from dssportal.infra.outbox import OutboxEmailBackend
from extraction.models import Request
from extraction.services.completion_mail import (
    completion_mail_deliver,
    completion_mails_deliver_owed,
)
from extraction.services.leases import mail_lease
from extraction.services.lifecycle import request_settle
from extraction.services.requests import fields_retry_failed, request_create_from_text
from tests.factories import register_real_dss_plate
from tests.threads import held_elsewhere

pytestmark = pytest.mark.django_db

LINE = "f{n} 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U"


@pytest.fixture
def finished_request(make_user, monkeypatch) -> Request:
    """A request all of whose fields failed, settled final in a transaction whose on-commit
    send never ran: what a process leaves that died between the commit and the send."""
    register_real_dss_plate()
    monkeypatch.setattr("extraction.services.queue.enqueue_field", lambda field_id, **_: None)
    monkeypatch.setattr("extraction.services.queue.enqueue_fields", lambda field_ids, **_: None)
    text = "\n".join(LINE.format(n=n) for n in range(2))
    request = request_create_from_text(user=make_user(), text=text, source="mail").request
    request.fields.update(status="failed", message="internal error (RuntimeError)")
    assert request_settle(request_id=request.pk)  # on_commit never runs in this test
    mail.outbox.clear()
    return Request.objects.get(pk=request.pk)


def completion_mails() -> list[EmailMessage]:
    return [m for m in mail.outbox if m.subject.startswith("DSS request #")]


def make_overdue(request: Request) -> None:
    Request.objects.filter(pk=request.pk).update(notified_at=timezone.now() - timedelta(minutes=1))


def test_the_settle_records_the_mail_as_owed_and_the_delivery_marks_it_sent(
    finished_request: Request,
) -> None:
    assert finished_request.notified_at is not None and finished_request.mailed_at is None
    assert completion_mail_deliver(request_id=finished_request.pk)
    assert not completion_mail_deliver(request_id=finished_request.pk)  # sent already
    (sent,) = completion_mails()
    finished_request.refresh_from_db()
    assert finished_request.mailed_at is not None
    assert sent.extra_headers["Message-ID"].startswith(f"<completion.{finished_request.pk}.0.")


def test_the_sweeper_sends_a_mail_left_owed_once_and_only_after_the_grace(
    finished_request: Request,
) -> None:
    assert completion_mails_deliver_owed() == []  # the settling process may still send it
    make_overdue(finished_request)
    assert completion_mails_deliver_owed() == [finished_request.pk]
    assert completion_mails_deliver_owed() == []
    assert len(completion_mails()) == 1


@contextmanager
def mail_lease_taken(request_id: int) -> Iterator[None]:
    with mail_lease(request_id) as lease:
        assert lease.taken
        yield


def mail_lease_held_elsewhere(request_id: int) -> AbstractContextManager[None]:
    """Another process sending the request's completion mail."""
    return held_elsewhere(lambda: mail_lease_taken(request_id))


def test_a_mail_being_sent_by_another_process_is_not_sent_twice(
    finished_request: Request,
) -> None:
    make_overdue(finished_request)
    with mail_lease_held_elsewhere(finished_request.pk):
        assert completion_mails_deliver_owed() == []
    assert completion_mails() == []
    assert completion_mails_deliver_owed() == [finished_request.pk]  # the other one died


def test_a_failed_send_leaves_the_mail_owed(finished_request: Request, monkeypatch) -> None:
    def refused(**kwargs: object) -> None:
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr("extraction.services.completion_mail.notify_completion", refused)
    assert not completion_mail_deliver(request_id=finished_request.pk)
    finished_request.refresh_from_db()
    assert finished_request.mailed_at is None
    monkeypatch.undo()
    assert completion_mail_deliver(request_id=finished_request.pk)


def test_a_staff_retry_owes_a_new_mail_with_a_new_message_id(
    finished_request: Request, monkeypatch
) -> None:
    assert completion_mail_deliver(request_id=finished_request.pk)
    monkeypatch.setattr("extraction.services.queue.enqueue_fields", lambda ids, **_: None)
    assert fields_retry_failed(request=finished_request) == 2
    reopened = Request.objects.get(pk=finished_request.pk)
    assert reopened.notified_at is None and reopened.mailed_at is None
    reopened.fields.update(status="failed")
    assert request_settle(request_id=reopened.pk)
    assert completion_mail_deliver(request_id=reopened.pk)
    first, second = completion_mails()
    assert first.extra_headers["Message-ID"] != second.extra_headers["Message-ID"]


def test_the_outbox_files_a_message_with_a_chosen_message_id_once(tmp_path: Path) -> None:
    backend = OutboxEmailBackend(outbox=tmp_path)

    def completion(body: str) -> EmailMessage:
        return EmailMessage(
            "DSS request #7: 1 of 1 field(s) ready",
            body,
            "dss@example.org",
            ["a@example.org"],
            headers={"Message-ID": "<completion.7.0.20260105103100000000@example.org>"},
        )

    assert backend.send_messages([completion("first send")]) == 1
    assert backend.send_messages([completion("sent again after a crash")]) == 1
    (only,) = tmp_path.glob("*.eml")
    assert only.name.startswith("completion.7.0.20260105103100000000@example.org-")
    assert b"first send" in only.read_bytes()
    assert not list(tmp_path.glob(".*.part"))
