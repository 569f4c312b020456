"""Database helpers shared by long-running loops (mail gate, imports, FTP, LMTP)."""

from __future__ import annotations

from django.db import close_old_connections, connection


def close_stale_connections() -> None:
    """Drop connections that are broken or past CONN_MAX_AGE, between units of work.

    Never inside a transaction: Django's ``close_old_connections`` closes a connection whose
    autocommit differs from the configured one, which is every connection inside ``atomic``
    (a caller's transaction, or a test's), and would lose that transaction's work.
    """
    if not connection.in_atomic_block:
        close_old_connections()
