"""The embedded mail backend: one RFC 5322 ``.eml`` file per outgoing message.

Django's own file backend appends every message of a connection to one log file with
separators, which no mail client opens; operators of the embedded default want to double-click
a reply, so each message gets a file of its own, written atomically.

A message whose sender chose its Message-ID (the completion mail, which may be sent again
after a crash) is filed under a name made from that id, once: sending it again finds the file
there and writes nothing, so redelivery is idempotent.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from extraction.core.files import write_atomically


class OutboxEmailBackend(BaseEmailBackend):
    def __init__(self, *args: Any, outbox: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox = Path(outbox or settings.OUTBOX_DIR)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.outbox.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            if not message.recipients():
                continue
            self._write(message)
            sent += 1
        return sent

    def _write(self, message: EmailMessage) -> Path:
        chosen_id = _chosen_message_id(message)
        if chosen_id is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            final = self.outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        else:
            final = self.outbox / _file_name_of(chosen_id)
            if final.exists():
                return final  # sent before: the same message, once
        write_atomically(final, message.message().as_bytes())
        return final


def _chosen_message_id(message: EmailMessage) -> str | None:
    return next(
        (value for key, value in message.extra_headers.items() if key.lower() == "message-id"),
        None,
    )


def _file_name_of(message_id: str) -> str:
    """A file name from a Message-ID: readable, safe, and different for different ids."""
    readable = re.sub(r"[^A-Za-z0-9.@_-]", "_", message_id.strip().strip("<>"))[:120]
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:12]
    return f"{readable}-{digest}.eml"
