"""The embedded mail backend: one RFC 5322 ``.eml`` file per outgoing message.

Django's own file backend appends every message of a connection to one log file with
separators, which no mail client opens; operators of the embedded default want to double-click
a reply, so each message gets a file of its own, written atomically.
"""

from __future__ import annotations

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
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        final = self.outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        write_atomically(final, message.message().as_bytes())
        return final
