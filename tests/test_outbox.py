from __future__ import annotations

import email
from email import policy
from pathlib import Path

from django.core.mail import EmailMessage

from dssportal.infra.outbox import OutboxEmailBackend


def test_each_message_is_one_rfc5322_file(tmp_path: Path) -> None:
    backend = OutboxEmailBackend(outbox=tmp_path / "outbox")
    messages = [
        EmailMessage(
            "Receipt: 3 fields", "Line 2: fine.\nÅngström ok.", "dss@example.org", ["a@example.org"]
        ),
        EmailMessage("Done", "Your images are staged.", "dss@example.org", ["b@example.org"]),
        EmailMessage("Nobody", "dropped", "dss@example.org", []),
    ]
    assert backend.send_messages(messages) == 2
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert not list((tmp_path / "outbox").glob("*.part"))
    parsed = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert {m["To"] for m in parsed} == {"a@example.org", "b@example.org"}
    receipt = next(m for m in parsed if m["To"] == "a@example.org")
    assert receipt["Subject"] == "Receipt: 3 fields"
    assert "Ångström ok." in receipt.get_content()
