"""Database helpers shared by long-running loops (mail gate, imports, FTP, LMTP, workers)."""

from __future__ import annotations

import contextlib
import time

from django.db import DatabaseError, close_old_connections, connection


def close_stale_connections() -> None:
    """Drop connections that are broken or past CONN_MAX_AGE, between units of work.

    Never inside a transaction: Django's ``close_old_connections`` closes a connection whose
    autocommit differs from the configured one, which is every connection inside ``atomic``
    (a caller's transaction, or a test's), and would lose that transaction's work.
    """
    if not connection.in_atomic_block:
        close_old_connections()


def database_wait(*, timeout: float, first_delay: float = 0.25, max_delay: float = 4.0) -> bool:
    """Drop the (broken) connection and wait until the database answers again, backing off.

    For a worker that met a database error mid-task: never spins, gives up after ``timeout``
    seconds (False). Not inside a transaction: its work is lost with the connection anyway.
    """
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        with contextlib.suppress(DatabaseError):
            connection.close()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except DatabaseError:
            if time.monotonic() + delay > deadline:
                with contextlib.suppress(DatabaseError):
                    connection.close()
                return False
            time.sleep(delay)
            delay = min(delay * 2, max_delay)
