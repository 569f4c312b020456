"""The outbox backend of tests/fault_settings.py: records completion mails, may crash once.

``FAULT_TEST_SENT_LOG``: a file that gets one line (Message-ID, pid) per completion mail handed
to the backend, even one the outbox does not file again (same Message-ID); not the one it
crashes at. ``FAULT_TEST_CRASH_MARKER``: a path; the first process to hand a completion mail to
the backend while it does not exist creates it and SIGKILLs its own process group (a whole
``qcluster``) before the mail is written, as a host lost right after the settle committed.
``FAULT_TEST_CUT_MARKER``: a path; the first process to hand a completion mail to the backend
while it does not exist creates it and, once the mail is written, has PostgreSQL terminate its
database connection, as a database restart between the send and its record.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path

import psycopg
from django.core.mail.message import EmailMessage
from django.db import connection

from dssportal.infra.outbox import OutboxEmailBackend


class RecordingOutboxBackend(OutboxEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        completions = [
            message_id
            for message in email_messages
            if (message_id := message.extra_headers.get("Message-ID", "")).startswith(
                "<completion."
            )
        ]
        for message_id in completions:
            if _first_to("FAULT_TEST_CRASH_MARKER"):
                os.killpg(os.getpgrp(), signal.SIGKILL)
            _record(message_id)
        sent = super().send_messages(email_messages)
        if completions and _first_to("FAULT_TEST_CUT_MARKER"):
            _connection_cut()
        return sent


def _first_to(marker_variable: str) -> bool:
    """True in the first process to get here while the marker file that variable names does
    not exist (it creates it); False when the variable is unset."""
    marker = os.environ.get(marker_variable)
    if not marker:
        return False
    try:
        Path(marker).open("x").close()
    except FileExistsError:
        return False
    return True


def _connection_cut() -> None:
    """Have PostgreSQL terminate this process's connection, as a restart would."""
    backend_pid = connection.connection.info.backend_pid  # psycopg 3
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


def _record(message_id: str) -> None:
    log = os.environ.get("FAULT_TEST_SENT_LOG")
    if log:
        with open(log, "a") as sent:  # O_APPEND: one whole line per write
            sent.write(f"{message_id} {os.getpid()}\n")
