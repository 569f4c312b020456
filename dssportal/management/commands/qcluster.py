"""``qcluster`` that stops within seconds of SIGTERM or Ctrl-C, whatever state the cluster is in.

The django-q2 problems this works around (django-q2 1.11.1, ``django_q/cluster.py``):

1. **A group signal deadlocks the stop.** ``Sentinel.__init__`` resets SIGTERM to
   ``SIG_DFL`` (line 176), so a signal to the whole process group (systemd's default
   ``KillMode``, a terminal's Ctrl-C, ``kill -TERM -PGID``) kills the sentinel at once, most
   likely while it sleeps in ``self.stop_event.wait(cycle)`` of its guard loop (line 373).
   The parent's ``Cluster.sig_handler`` (line 122) calls ``Cluster.stop``, which calls
   ``self.stop_event.set()`` (line 115): ``multiprocessing.Event.set`` is a
   ``Condition.notify_all``, which waits on ``_woken_count`` for every sleeper counted, and
   a dead sleeper never wakes, so the parent blocks for ever and then ignores SIGTERM until
   SIGKILL. (django-q2 knows the pattern: the comment in ``Cluster.start``, line 84, avoids
   ``start_event.wait()`` for the same reason.) Here the event is set only while the
   sentinel is alive (checked after a short join).
2. **The stop has no bound.** ``Cluster.stop`` joins the sentinel without a timeout
   (line 116), and ``Sentinel.stop`` waits for every worker in an unbounded loop
   (``while len(self.pool)``, line 394; only the final wait for the monitor is bounded, line
   410), so a worker cutting a large field holds up the stop for as long as the cut takes.
   Here a watchdog kills every process below this one after ``STOP_SECONDS``.

So the workers finish the field in hand when they can, and whatever is left after
``STOP_SECONDS`` is killed. Fields cut short are reclaimed at once by the other clusters'
sweepers (extraction.services.sweeper); their files are written atomically, so none is partial.

This command takes precedence over django-q2's because ``dssportal`` is listed before
``django_q`` in INSTALLED_APPS. ``--run-once`` and ``--name`` go to django-q2's own command.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand

log = logging.getLogger(__name__)

#: Time the workers get to finish the fields in hand before everything is killed.
STOP_SECONDS = 8.0


def descendant_pids(root: int) -> list[int]:
    """Every process below ``root`` (Linux /proc), children before grandchildren."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, frontier = [], [root]
    while frontier:
        below = [pid for parent in frontier for pid in children.get(parent, [])]
        found += below
        frontier = below
    return found


def _kill_everything_after(seconds: float) -> None:
    time.sleep(seconds)
    for pid in descendant_pids(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os._exit(0)


class Command(DjangoQClusterCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("run_once") or options.get("cluster_name"):
            return super().handle(*args, **options)
        settings.SECRET_KEY  # noqa: B018  (signing needs it: fail before starting anything)
        cluster = Cluster()
        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            if stopping.is_set():
                return
            stopping.set()
            threading.Thread(
                target=_kill_everything_after, args=(STOP_SECONDS,), daemon=True
            ).start()
            sentinel, stop_event = cluster.sentinel, cluster.stop_event
            if sentinel is None or stop_event is None:
                return
            # A signal to the whole group reaches the sentinel too (it dies of it at once).
            sentinel.join(0.3)
            if sentinel.is_alive():
                log.info("stopping: workers finish the fields in hand (at most %s s)", STOP_SECONDS)
                stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        cluster.start()
        while cluster.sentinel is not None and cluster.sentinel.is_alive():
            cluster.sentinel.join(0.5)
