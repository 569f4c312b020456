"""Issue 24 on the mail side: auto-replies in every header encoding, a receipt of bounded
size, deletion lists that cannot hold up the gate, forged senders and per-sender limits."""

from __future__ import annotations

import pytest
from django.core import mail

from tests.test_mailgate import (  # noqa: F401  (fixtures)
    LINES,
    REQUEST_ADDRESS,
    alice,
    handle,
    plain,
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
    return "".join(
        f"f{i:05d} 23 57 49.4 -32 35 24. 1. 1. J2000 DSS1 e G\n" for i in range(n)
    )


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
