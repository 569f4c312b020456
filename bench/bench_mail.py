"""Throughput of the mail gate: 1,000 one-line requests from a Maildir through ``ingest_mail``.

Run: ``.venv/bin/python bench/bench_mail.py``. Builds a throwaway SQLite database and data
directory, 20 registered users, and 1,000 messages (one J2000 request line each, unique
Message-IDs) in a Maildir, then runs ``ingest_mail --maildir`` on it:

1. the gate alone: ``extraction.services.queue.enqueue_field`` is replaced by a no-op, so each
   message costs reading, routing, the sender lookup, the claim, the request with its
   quota check, the InboundMail record, the receipt (an ``.eml`` in the outbox) and the
   move to ``cur/``;
2. for comparison, 200 more with the inline tasks of the test settings and no plate in
   the catalogue: each field is run inline, skipped at once for want of a plate, and the
   completion message is written too (two messages out per message in).

Both are compared with a baseline measured in the same process: ``email`` parsing of the
1,000 messages plus the request-list parser on their bodies, the floor of reading them.
Prints; never asserts. The target is more than 50 messages/s for the gate alone.
"""

from __future__ import annotations

import io
import mailbox
import os
import random
import shutil
import sys
import tempfile
import time
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="dssportal-bench-mail-"))
os.environ["DJANGO_SETTINGS_MODULE"] = "dssportal.settings_test"
os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"
os.environ["DSSPORTAL_DATA_DIR"] = str(WORK / "data")
os.environ["DSSPORTAL_REQUEST_ADDRESS"] = "dss@archive.example"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ.pop("EMAIL_HOST", None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from accounts.services import user_create  # noqa: E402
from extraction.models import InboundMail, Request  # noqa: E402
from extraction.services import queue  # noqa: E402
from extraction.text.requestlist import parse_request_list  # noqa: E402

N_MESSAGES = 1_000
N_INLINE = 200
N_USERS = 20
TARGET_PER_S = 50.0
SEED = 20261124


def request_line(rng: random.Random, index: int) -> str:
    return (
        f"f{index:05d} {rng.randrange(24)} {rng.randrange(60)} {rng.uniform(0, 59.9):.1f} "
        f"{rng.choice('+-')}{rng.randrange(89):02d} {rng.randrange(60)} {rng.randrange(60)} "
        f"10. 10. J2000 DSS2 e G"
    )


def build_messages(tag: str, count: int = N_MESSAGES) -> list[bytes]:
    rng = random.Random(SEED)
    messages = []
    for n in range(count):
        sender = f"astronomer{n % N_USERS}@example.org"
        messages.append(
            (
                f"From: Astronomer {n % N_USERS} <{sender}>\r\nTo: dss@archive.example\r\n"
                f"Subject: request {n}\r\nMessage-ID: <{tag}-{n}@example.org>\r\n"
                "Date: Mon, 05 Jan 2026 10:31:00 +0000\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n"
                f"{request_line(rng, n)}\r\n"
            ).encode()
        )
    return messages


def write_maildir(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.Maildir(path, create=True)
    for raw in messages:
        box.add(raw)
    return path


def baseline(messages: list[bytes]) -> float:
    """Seconds to parse every message and its list: the floor of any mail gate."""
    start = time.perf_counter()
    for raw in messages:
        body = message_from_bytes(raw, policy=compat32).get_payload()
        parse_request_list(body)
    return time.perf_counter() - start


def ingest(path: Path) -> float:
    """Seconds for ``ingest_mail --maildir`` over ``path``."""
    start = time.perf_counter()
    call_command("ingest_mail", "--maildir", str(path), stdout=io.StringIO())
    return time.perf_counter() - start


def report(label: str, count: int, seconds: float, per_message_floor: float) -> float:
    """Print one figure and return messages per second."""
    rate = count / seconds
    ratio = (seconds / count) / per_message_floor
    print(f"{label:<48} {seconds:7.2f} s  {rate:8.1f} messages/s  {ratio:6.0f} x baseline")
    return rate


def main() -> None:
    call_command("migrate", verbosity=0)
    for n in range(N_USERS):
        user_create(
            username=f"astronomer{n}", email=f"astronomer{n}@example.org", password="x" * 12
        )
    gate_only = build_messages("gate")
    inline = build_messages("inline", N_INLINE)
    floor = min(baseline(gate_only) for _ in range(3))
    print(f"{N_MESSAGES} one-line requests from {N_USERS} registered users, SQLite, {WORK}")
    print(
        f"{'baseline: email parsing + request-list parser':<48} {floor:7.2f} s  "
        f"{N_MESSAGES / floor:8.1f} messages/s"
    )
    per_message_floor = floor / N_MESSAGES

    enqueue = queue.enqueue_field
    queue.enqueue_field = lambda field_id: None  # type: ignore[assignment]
    try:
        seconds = ingest(write_maildir(WORK / "gate", gate_only))
    finally:
        queue.enqueue_field = enqueue  # type: ignore[assignment]
    rate = report("ingest_mail --maildir, enqueue a no-op", N_MESSAGES, seconds, per_message_floor)
    seconds = ingest(write_maildir(WORK / "inline", inline))
    inline_rate = report(
        f"same, {N_INLINE} with inline tasks, no plates", N_INLINE, seconds, per_message_floor
    )
    print(
        f"requests made: {Request.objects.count()}, "
        f"messages recorded: {InboundMail.objects.count()}"
    )
    verdict = "met" if rate > TARGET_PER_S else "NOT met"
    print(
        f"target > {TARGET_PER_S:.0f} messages/s for the gate alone: {verdict} ({rate:.1f}/s); "
        f"with inline tasks {inline_rate:.1f}/s"
    )
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
