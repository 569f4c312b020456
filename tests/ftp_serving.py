"""Serving a test's FTP server in a thread, and stopping it without a race."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from extraction.ftp.server import PortalFTPServer


@contextmanager
def served(server: PortalFTPServer, poll_s: float = 0.05) -> Iterator[PortalFTPServer]:
    """Serve ``server`` until the block ends, then close it in its own thread.

    pyftpdlib's IO loop is not thread-safe: ``close_all`` from the test's thread while the
    serving thread polled raised EBADF in that thread (a warning in CI, and a loop that may
    not end). So the serving thread polls a round at a time and closes the server itself, as
    pyftpdlib's own tests stop theirs.
    """
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                server.serve_forever(timeout=poll_s, blocking=False, handle_exit=False)
        finally:
            server.close_all()

    thread = threading.Thread(target=serve, name="ftp-test-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the FTP server did not stop"
