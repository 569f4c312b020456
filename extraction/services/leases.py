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
finished, so "running and nobody holds the lease" means "its worker is gone". A task of
several fields takes all their leases in one statement (:func:`leases_take`) and gives them
up in one at its end (:func:`leases_release`).

A request's *mail lease* (:func:`mail_lease`) works the same way for its completion mail:
whoever sends the mail holds it, so two workers never send the same mail at once and a
sender that dies frees it for the sweeper. The *sweep lease* (:func:`sweep_lease`) lets one
sweeper of the whole site work at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection

#: High bits that keep our advisory-lock keys apart from any other user of the database.
_PG_NAMESPACE = 0x4453 << 48  # "DS": fields
_PG_MAIL_NAMESPACE = 0x444D << 48  # "DM": completion mails of requests
_PG_SWEEP_KEY = 0x4457 << 48  # "DW": the sweeper

_held_files: dict[Path, int] = {}  # lock file -> file descriptor (SQLite leases of this process)


def _uses_advisory_locks() -> bool:
    return connection.vendor == "postgresql"


def _lease_dir() -> Path:
    return Path(settings.DATA_DIR) / "leases"


def _lease_path(field_id: int) -> Path:
    return _lease_dir() / f"field-{field_id}.lock"


def lease_take(field_id: int) -> bool:
    """Hold the field's lease; False when a live worker holds it."""
    return _take(_PG_NAMESPACE | field_id, _lease_path(field_id))


def lease_release(field_id: int, *, finished: bool) -> None:
    """Give the lease up; ``finished``: the field is terminal, so its lock file can go.

    Unlinking before unlocking is safe: a worker that opened the old file meanwhile gets a lock
    on a dead inode, then finds the field finished and claims nothing.
    """
    _release(_PG_NAMESPACE | field_id, _lease_path(field_id), finished=finished)


def leases_take(field_ids: Sequence[int]) -> list[int]:
    """Hold the leases of these fields (distinct ids), on PostgreSQL in one statement; the
    ids whose lease this call took, in order (a live worker holds the others)."""
    if not _uses_advisory_locks():
        return [pk for pk in field_ids if _take(_PG_NAMESPACE | pk, _lease_path(pk))]
    if not field_ids:
        return []
    keys = [_PG_NAMESPACE | pk for pk in field_ids]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key, pg_try_advisory_lock(key) FROM unnest(%s::bigint[]) AS key", [keys]
        )
        taken = {key for key, locked in cursor.fetchall() if locked}
    return [pk for pk, key in zip(field_ids, keys, strict=True) if key in taken]


def leases_release(field_ids: Sequence[int], *, finished: Collection[int]) -> None:
    """Give up the leases of these fields (all held by this process), on PostgreSQL in one
    statement; the lock files of the ``finished`` ones (terminal fields) can go."""
    if not _uses_advisory_locks():
        for pk in field_ids:
            lease_release(pk, finished=pk in finished)
        return
    if field_ids:
        keys = [_PG_NAMESPACE | pk for pk in field_ids]
        _unlock("SELECT pg_advisory_unlock(key) FROM unnest(%s::bigint[]) AS key", [keys])


@dataclass
class Lease:
    taken: bool
    #: Set by the holder when what the lease guards is done for good: its lock file may go.
    finished: bool = False


def mail_lease(request_id: int) -> contextlib.AbstractContextManager[Lease]:
    """Hold the request's mail lease for the block; ``taken`` is False when another process
    has it. The holder reads whether the mail is still owed *after* taking the lease."""
    return _held(_PG_MAIL_NAMESPACE | request_id, _lease_dir() / f"mail-{request_id}.lock")


def sweep_lease() -> contextlib.AbstractContextManager[Lease]:
    """Hold the one sweeper lease of the site for the block (every worker runs a sweeper; one
    sweep at a time, so two never re-enqueue the same lost field)."""
    return _held(_PG_SWEEP_KEY, _lease_dir() / "sweeper.lock")


@contextlib.contextmanager
def _held(key: int, path: Path) -> Iterator[Lease]:
    lease = Lease(taken=_take(key, path))
    try:
        yield lease
    finally:
        if lease.taken:
            _release(key, path, finished=lease.finished)


def _take(key: int, path: Path) -> bool:
    if _uses_advisory_locks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            return bool(cursor.fetchone()[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held_files[path] = fd
    return True


def _release(key: int, path: Path, *, finished: bool) -> None:
    if _uses_advisory_locks():
        _unlock("SELECT pg_advisory_unlock(%s)", [key])
        return
    fd = _held_files.pop(path, None)
    if fd is None:
        return
    if finished:
        path.unlink(missing_ok=True)
    os.close(fd)  # closing the only descriptor releases the flock


def _unlock(sql: str, params: list[int] | list[list[int]]) -> None:
    """Run the advisory unlock ``sql``, unless the connection died (the server released the
    locks with the session)."""
    if connection.connection is None:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        # Broken connection (database restarted): the locks died with the session. Close it
        # so that the next unit of work reconnects instead of failing on it too.
        connection.close()
