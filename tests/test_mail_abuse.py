"""Issue 24 on the mail side: auto-replies in every header encoding, a receipt of bounded
size, deletion lists that cannot hold up the gate, forged senders and per-sender limits."""

# ruff: noqa: F811  (the fixtures of tests/test_mailgate.py, imported)
from __future__ import annotations

import smtplib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core import mail
from django.db import connection, connections, transaction

from extraction.mail.lmtp import deliver, lmtp_controller
from extraction.models import InboundMail, Request, StagingDirectory
from extraction.services.staging import staging_directory_for_request
from tests.test_mailgate import (  # noqa: F401  (fixtures)
    LINES,
    REQUEST_ADDRESS,
    alice,
    handle,
    plain,
    receipts,
    service,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ngc7793_plate")]


def raw_message(subject: bytes, body: str, *, sender: str = "alice@example.org") -> bytes:
    return (
        f"From: Alice <{sender}>\r\nTo: {REQUEST_ADDRESS}\r\n".encode()
        + b"Subject: " + subject + b"\r\n"
        + b"Message-ID: <raw-subject@example.org>\r\nMIME-Version: 1.0\r\n"
        + b"Content-Type: text/plain; charset=UTF-8\r\n\r\n"
        + body.encode()
    )  # fmt: skip


@pytest.mark.parametrize(
    "subject",
    [
        "Réponse automatique : absent".encode(),  # RFC 6532: raw UTF-8 in the header
        "自動応答: 不在です".encode(),
        "Automatische Antwort: Urlaub".encode("latin-1"),
        b"=?utf-8?q?R=C3=A9ponse_automatique?=",  # the RFC 2047 form, recognised before
    ],
)
def test_an_auto_reply_subject_is_recognised_in_raw_utf8_as_in_rfc2047(alice, handle, subject):
    outcome = handle(raw_message(subject, LINES[0] + "\n"))
    assert outcome.outcome == "auto_submitted", outcome.detail
    assert mail.outbox == []


def test_a_raw_utf8_subject_is_recorded_as_written(alice, handle):
    outcome = handle(raw_message("Demande d'étoiles".encode(), LINES[0] + "\n"))
    assert outcome.outcome == "accepted"
    assert outcome.inbound.subject == "Demande d'étoiles"


def _many_lines(n: int) -> str:
    return "".join(f"f{i:05d} 23 57 49.4 -32 35 24. 1. 1. J2000 DSS1 e G\n" for i in range(n))


def test_the_receipt_summarises_instead_of_echoing_every_accepted_line(alice, handle):
    alice.quota_mb = 0  # every field skipped for space: nothing to extract, both lists long
    alice.save()
    sizes = {}
    for n in (30, 600):
        mail.outbox.clear()
        message = plain(_many_lines(n), message_id=f"<many-{n}@example.org>")
        outcome = handle(message)
        assert outcome.outcome == "accepted"
        assert outcome.request.fields.count() == n
        receipt = mail.outbox[0]  # the completion message follows it
        sizes[n] = (len(message.as_bytes()), len(receipt.body.encode()))
        assert f"{n} field(s) accepted" in " ".join(receipt.body.split())
    mail_600, receipt_600 = sizes[600]
    assert receipt_600 < mail_600 / 2, sizes  # was 4.4 times the mail
    assert receipt_600 < sizes[30][1] + 500, sizes  # bounded: more lines, same size
    assert "580 more field(s)" in " ".join(receipt.body.split())
    assert "580 more skipped field(s)" in " ".join(receipt.body.split())


# -- One message cannot hold up the others ----------------------------------------------------

DELETE_ADDRESS = "dss-delete@archive.example"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


AUTHSERV_ID = "mx.archive.example"
#: What the site's MTA writes for mail that passed SPF for example.org.
PASSED = f"Authentication-Results: {AUTHSERV_ID}; spf=pass smtp.mailfrom=alice@example.org\r\n"


def _deletion_message(names: list[str], n: int) -> bytes:
    return (
        PASSED + f"From: alice@example.org\r\nTo: {DELETE_ADDRESS}\r\nSubject: delete\r\n"
        f"Message-ID: <del-{n}@example.org>\r\n\r\n" + "\r\n".join(names) + "\r\n"
    ).encode()


def _request_message(body: str, n: int) -> bytes:
    return (
        f"From: alice@example.org\r\nTo: {REQUEST_ADDRESS}\r\nSubject: list\r\n"
        f"Message-ID: <req-{n}@example.org>\r\n\r\n" + body.replace("\n", "\r\n")
    ).encode()


def _send(port: int, sender_to: str, raw: bytes) -> float:
    """Deliver over LMTP; the time the delivery took."""
    began = time.monotonic()
    with smtplib.LMTP("127.0.0.1", port) as client:
        client.sendmail("alice@example.org", [sender_to], raw)
    return time.monotonic() - began


@pytest.fixture
def listener(settings):
    settings.DSSPORTAL_DELETE_ADDRESS = DELETE_ADDRESS
    settings.DSSPORTAL_MAIL_AUTHSERV_ID = AUTHSERV_ID
    port = free_port()
    controller = lmtp_controller("127.0.0.1", port)
    controller.start()
    yield port
    controller.stop()


@pytest.mark.django_db(transaction=True)
def test_a_deletion_list_of_35000_names_is_capped_and_cheap(alice, listener):
    directory = staging_directory_for_request(
        request=Request.objects.create(user=alice, source="mail")
    )
    names = [f"dss-20261124-{n:013d}" for n in range(35_000)]
    names[10] = directory.name
    took = _send(listener, DELETE_ADDRESS, _deletion_message(names, 1))
    assert took < 10, took  # was 38.5 s: a locking query for each name
    directory.refresh_from_db()
    assert directory.deleted_at is not None
    record = InboundMail.objects.get(message_id="<del-1@example.org>")
    assert record.outcome == "deleted" and record.detail.startswith("1 deleted, 2000 ignored")
    reply = next(m for m in mail.outbox if m.to == ["alice@example.org"])
    assert "Only the first 2000 names were read" in " ".join(reply.body.split())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_lmtp_serves_other_messages_while_one_is_held_up(alice, make_user, listener):
    """A deletion list held up for 4 s (its directory row locked by another transaction,
    as a long deletion would hold it) must not delay bob's request by more than a second."""
    make_user("bob", "bob@example.org")
    directory = staging_directory_for_request(
        request=Request.objects.create(user=alice, source="mail")
    )
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        with transaction.atomic():
            StagingDirectory.objects.select_for_update().get(pk=directory.pk)
            locked.set()
            release.wait(4)
        connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    locked.wait(5)
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(_send, listener, DELETE_ADDRESS, _deletion_message([directory.name], 1))
        time.sleep(0.3)
        bobs = _request_message(LINES[0] + "\n", 2).replace(b"alice@", b"bob@")
        quick_took = _send(listener, REQUEST_ADDRESS, bobs)
        release_after = time.monotonic()
        release.set()
        slow_took = slow.result()
    holder.join()
    assert Request.objects.filter(user__username="bob").count() == 1
    directory.refresh_from_db()
    assert directory.deleted_at is not None
    assert quick_took < 1.5, (quick_took, slow_took)  # a second, and slack for a loaded host
    assert slow_took > quick_took and time.monotonic() >= release_after


# -- Forged From -------------------------------------------------------------------------------


def _authenticated_request(results: str, n: int, *, sender: str = "alice@example.org") -> bytes:
    return (
        (f"Authentication-Results: {results}\r\n" if results else "")
        + f"From: {sender}\r\nTo: {REQUEST_ADDRESS}\r\nSubject: list\r\n"
        + f"Message-ID: <auth-{n}@example.org>\r\n\r\n{LINES[0]}\r\n"
    ).encode()


@pytest.mark.parametrize(
    "results",
    [
        f"{AUTHSERV_ID}; dmarc=fail (p=reject) header.from=example.org",
        f"{AUTHSERV_ID}; spf=fail smtp.mailfrom=alice@example.org; dkim=none",
        # A header the forger wrote under our MTA's (which comes first) counts for nothing.
        f"{AUTHSERV_ID}; spf=fail smtp.mailfrom=example.org\r\n"
        "Authentication-Results: forger.example; dmarc=pass",
        # Nor does a forged one under our own id, wherever it stands: a failure outweighs it.
        f"{AUTHSERV_ID}; dmarc=pass\r\n"
        f"Authentication-Results: {AUTHSERV_ID}; dmarc=fail header.from=example.org",
    ],
)
def test_mail_failing_spf_or_dmarc_for_the_from_domain_is_held(alice, handle, settings, results):
    settings.DSSPORTAL_MAIL_AUTHSERV_ID = AUTHSERV_ID
    outcome = handle(_authenticated_request(results, 1))
    assert outcome.outcome == "held", outcome.detail
    assert "failed authentication" in outcome.detail
    assert not Request.objects.exists() and mail.outbox == []


def test_refused_mail_is_answered_550_over_lmtp(alice, handle, settings):
    settings.DSSPORTAL_MAIL_AUTHSERV_ID = AUTHSERV_ID
    settings.DSSPORTAL_MAIL_AUTH_FAILURE = "refuse"
    raw = _authenticated_request(f"{AUTHSERV_ID}; dmarc=fail header.from=example.org", 2)
    assert deliver(raw, "request").startswith("550 5.7.1")
    assert not Request.objects.exists()


def test_mail_that_passed_or_was_not_judged_is_served(alice, handle, settings):
    settings.DSSPORTAL_MAIL_AUTHSERV_ID = AUTHSERV_ID
    passed = handle(_authenticated_request(f"{AUTHSERV_ID}; dmarc=pass", 3))
    neutral = handle(_authenticated_request(f"{AUTHSERV_ID}; spf=neutral", 4))
    assert passed.outcome == neutral.outcome == "accepted"


def test_a_deletion_list_without_authentication_deletes_nothing_and_offers_links(
    alice, handle, settings
):
    directory = staging_directory_for_request(
        request=Request.objects.create(user=alice, source="mail")
    )
    forged = (
        f"From: alice@example.org\r\nTo: {DELETE_ADDRESS}\r\nSubject: x\r\n"
        f"Message-ID: <forged-del@example.org>\r\n\r\n{directory.name}\r\n"
    ).encode()
    settings.DSSPORTAL_DELETE_ADDRESS = DELETE_ADDRESS
    outcome = handle(forged)
    directory.refresh_from_db()
    assert directory.deleted_at is None and directory.absolute_path.is_dir()
    assert "1 to confirm on the web" in outcome.detail
    (reply,) = mail.outbox
    assert reply.to == ["alice@example.org"]
    assert f"https://dss.archive.example/staging/{directory.name}/delete" in reply.body


def test_one_sender_gets_a_bounded_number_of_messages_acted_on(alice, handle, settings):
    settings.DSSPORTAL_MAIL_PER_SENDER_PER_HOUR = 3
    outcomes = [handle(_authenticated_request("", n)).outcome for n in range(5)]
    assert outcomes == ["accepted"] * 3 + ["rate_limited"] * 2
    assert Request.objects.count() == 3 and len(receipts()) == 3


def test_one_address_gets_a_bounded_number_of_replies(alice, handle, settings):
    settings.DSSPORTAL_MAIL_REPLIES_PER_ADDRESS_PER_HOUR = 2
    outcomes = [handle(_authenticated_request("", n)) for n in range(4)]
    assert [o.outcome for o in outcomes] == ["accepted"] * 4
    assert len(receipts()) == 2 and "not answered" in outcomes[-1].detail
