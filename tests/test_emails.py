"""The one send helper of the automatic mails and its plain-text templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail

from dssportal.infra import emails

EMAILS = Path(settings.BASE_DIR) / "templates" / "emails"
MAIL_NAMES = sorted(p.name.removesuffix("-subject.txt") for p in EMAILS.glob("*-subject.txt"))


def test_every_mail_has_a_subject_and_a_body_and_nothing_else_is_loose():
    bodies = sorted(p.name.removesuffix("-body-text.txt") for p in EMAILS.glob("*-body-text.txt"))
    partials = {p.name for p in EMAILS.glob("_*.txt")}
    assert bodies == MAIL_NAMES and len(MAIL_NAMES) == 10
    assert {p.name for p in EMAILS.iterdir()} == partials | {
        f"{name}-{part}.txt" for name in MAIL_NAMES for part in ("subject", "body-text")
    }


def test_no_mail_is_written_in_python_any_more():
    """Every automatic mail goes through dssportal.infra.emails.send: nothing else builds one."""
    root = Path(settings.BASE_DIR)
    senders = [
        path.relative_to(root).as_posix()
        for package in ("accounts", "extraction", "dssportal")
        for path in (root / package).rglob("*.py")
        if "EmailMessage(" in path.read_text() or "send_mail(" in path.read_text()
    ]
    # accounts/forms.py only overrides Django's PasswordResetForm.send_mail to call it.
    assert senders == ["accounts/forms.py", "dssportal/infra/emails.py"], senders


@pytest.mark.django_db
def test_send_renders_plain_text_trims_tag_lines_and_strips_controls(tmp_path):
    # A user's identifier with an ampersand, angle brackets, a terminal escape and U+202E.
    emails.send(
        "both-addresses",
        to="ann@example.org",
        context={
            "incoming": type(
                "Incoming",
                (),
                {"received": None, "subject": "M31 & <M32>\x1b[31m\u202e", "sender": "x"},
            )()
        },
        headers={"Auto-Submitted": "auto-replied"},
    )
    (message,) = mail.outbox
    assert message.from_email == settings.DEFAULT_FROM_EMAIL and message.to == ["ann@example.org"]
    assert message.extra_headers == {"Auto-Submitted": "auto-replied"}
    assert message.subject == (
        "Your message to the DSS archive was not read (sent to both addresses)"
    )
    body = message.body
    assert '(subject "M31 & <M32>[31m")' in " ".join(body.split())  # no &amp; nor escape
    assert "\x1b" not in body and "\u202e" not in body and "&amp;" not in body
    # Tag-only lines leave nothing behind: the body starts with its text, no blank line.
    assert body.startswith("Your message of") and "\n\n\n" not in body
    assert max(len(line) for line in body.splitlines()) <= 72
    assert body.endswith(f"{settings.DSSPORTAL_PUBLIC_URL}/\n")
