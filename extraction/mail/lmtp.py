"""The LMTP listener of the mail gate (``runlmtp``), for MTAs delivering over LMTP, not a pipe.

Postfix: ``mailbox_transport = lmtp:inet:127.0.0.1:2424`` (or a transport map entry for the
two service addresses). Each recipient of a message is handed to
:func:`extraction.mail.gate.mail_handle` with the routing of that recipient (the envelope
is the truth; headers are not consulted), and LMTP answers for each recipient on its own:
``250`` when handled, ``451`` (try again later) when the database is unreachable, so the
MTA keeps the message. Recipients that are not one of the two service addresses are
refused at RCPT time.

The gate's work runs outside the event loop, in a pool of ``DSSPORTAL_LMTP_THREADS``
threads, so that messages on different connections are handled at the same time: one
large message cannot hold up the next one (a message delivered twice at once is still
acted on once: the gate claims it by a unique key). Each thread has its own database
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import connections

from dssportal.infra.db import close_stale_connections
from extraction.mail import gate as mailgate
from extraction.text.mailtext import base_address

log = logging.getLogger(__name__)

#: Messages up to this size reach the gate (which answers "too large" itself, politely);
#: beyond it the MTA bounces them.
HARD_SIZE_FACTOR = 8


def service_address_kind(address: str) -> str | None:
    """'request' or 'delete' when an envelope recipient (RCPT TO) is one of the service's two
    addresses (sub-addressing allowed); None for any other address. Unlike
    ``mailtext.kind_from_headers``, which reads a message's headers, this judges one address."""
    base = base_address(address)
    if base == base_address(settings.DSSPORTAL_REQUEST_ADDRESS):
        return "request"
    if base == base_address(settings.DSSPORTAL_DELETE_ADDRESS):
        return "delete"
    return None


def deliver(raw: bytes, kind: str) -> str:
    """Hand one copy to the gate; the LMTP reply line for its recipient."""
    close_stale_connections()
    try:
        outcome = mailgate.mail_handle(raw, kind=kind)
    except mailgate.MailTemporaryFailure:
        return "451 4.3.0 Temporary failure of the DSS archive, try again later"
    except Exception:  # the gate records its own faults; this is a fault in recording one
        log.exception("LMTP delivery to the mail gate failed")
        return "451 4.3.0 The DSS archive could not take this message now, try again later"
    finally:
        close_stale_connections()
    if outcome.outcome == "refused":  # DSSPORTAL_MAIL_AUTH_FAILURE=refuse
        return f"550 5.7.1 Sender not authenticated: {outcome.detail}"[:500]
    return f"250 2.0.0 {outcome.outcome}"


class GateHandler:
    """aiosmtpd handler: RCPT checks the address, DATA hands the message to the gate."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or int(settings.DSSPORTAL_LMTP_THREADS)
        self.executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="mailgate")

    def close(self) -> None:
        """Release every gate thread's database connection, then the threads: one task per
        thread, held at a barrier so that no thread takes two."""
        barrier = threading.Barrier(self.threads)

        def close_own_connections() -> None:
            try:
                barrier.wait(timeout=10)
            finally:
                connections.close_all()

        closing = [self.executor.submit(close_own_connections) for _ in range(self.threads)]
        for done in closing:
            # A thread still busy with a message closes its connection itself.
            with contextlib.suppress(threading.BrokenBarrierError):
                done.result()
        self.executor.shutdown()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if service_address_kind(address) is None:
            return f"550 5.1.1 <{address}>: not an address of the DSS archive"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        replies = []
        for address in envelope.rcpt_tos:
            kind = service_address_kind(address) or "request"
            replies.append(await loop.run_in_executor(self.executor, deliver, raw, kind))
        return "\r\n".join(replies)  # LMTP: one reply per recipient


class LMTPController(Controller):
    """aiosmtpd's threaded controller serving LMTP instead of SMTP."""

    def factory(self) -> LMTP:
        return LMTP(self.handler, **self.SMTP_kwargs)

    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert=no_assert)
        self.handler.close()


def lmtp_controller(host: str, port: int) -> LMTPController:
    return LMTPController(
        GateHandler(),
        hostname=host,
        port=port,
        data_size_limit=settings.DSSPORTAL_MAX_MAIL_BYTES * HARD_SIZE_FACTOR,
        enable_SMTPUTF8=True,
        decode_data=False,
    )


def serve_lmtp(host: str, port: int, *, started: Callable[[], object]) -> None:
    """Serve LMTP on ``host:port`` until SIGINT or SIGTERM; ``started`` is called once
    listening."""
    controller = lmtp_controller(host, port)
    mailgate.mail_gate_warm()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    controller.start()
    started()
    try:
        stop.wait()
    finally:
        controller.stop()
