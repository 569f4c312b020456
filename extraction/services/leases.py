"""Field leases: a lock a worker holds while it works on a field, released when it dies.

django-q2's Redis broker has no acknowledgement, so a field whose worker died stays
``running`` for ever; the ORM broker re-delivers it only after ``retry`` (minutes). A lease
tells the sweeper at once whether a ``running`` field still has a live worker:

- PostgreSQL (any number of hosts): a session advisory lock on the field's id. The server
  releases it when the worker's connection closes, so a killed process or a dead host frees
  it within the TCP keep-alive time, a SIGKILLed process at once.
- SQLite (one host by construction): ``flock`` on a small file per field under
  ``$DSSPORTAL_DATA_DIR/leases``; the kernel releases it when the process dies.

A worker takes the lease *before* it claims the field and gives it up after the field is
finished, so "running and nobody holds the lease" means "its worker is gone".
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection

#: High bits that keep our advisory-lock keys apart from any other user of the database.
_PG_NAMESPACE = 0x4453 << 48  # "DS"

_held_files: dict[int, int] = {}  # field id -> file descriptor (SQLite leases of this process)


def _uses_advisory_locks() -> bool:
    return connection.vendor == "postgresql"


def _lease_path(field_id: int) -> Path:
    return Path(settings.DATA_DIR) / "leases" / f"field-{field_id}.lock"


def lease_take(field_id: int) -> bool:
    """Hold the field's lease; False when a live worker holds it."""
    if _uses_advisory_locks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_PG_NAMESPACE | field_id])
            return bool(cursor.fetchone()[0])
    path = _lease_path(field_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held_files[field_id] = fd
    return True


def lease_release(field_id: int, *, finished: bool) -> None:
    """Give the lease up; ``finished``: the field is terminal, so its lock file can go.

    Unlinking before unlocking is safe: a worker that opened the old file meanwhile gets a lock
    on a dead inode, then finds the field finished and claims nothing.
    """
    if _uses_advisory_locks():
        if connection.connection is None:  # the connection died: the server released it
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_PG_NAMESPACE | field_id])
        except DatabaseError:
            # Broken connection (database restarted): the lock died with the session. Close it
            # so that the next unit of work reconnects instead of failing on it too.
            connection.close()
        return
    fd = _held_files.pop(field_id, None)
    if fd is None:
        return
    if finished:
        _lease_path(field_id).unlink(missing_ok=True)
    os.close(fd)  # closing the only descriptor releases the flock
