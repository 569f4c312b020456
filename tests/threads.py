"""Holding a lease or a lock from another thread, as another process would."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from django.db import connection


@contextmanager
def held_elsewhere(hold: Callable[[], AbstractContextManager[object]]) -> Iterator[None]:
    """Enter ``hold()`` in another thread (its own database connection, PostgreSQL; its own
    descriptor, SQLite) and keep it entered until this block ends."""
    taken, done = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with hold():
                taken.set()
                done.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert taken.wait(30)
    try:
        yield
    finally:
        done.set()
        thread.join(30)
