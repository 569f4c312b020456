"""``qcluster`` that keeps extracting whichever process of its cluster is killed, and stops
within seconds of SIGTERM or Ctrl-C whatever state the cluster is in.

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
3. **A killed process stops the cluster for good.** A process killed while it holds a lock
   of the cluster's queues never gives it back (an idle worker holds the task queue's reader
   lock while it waits for a task), and ``Sentinel.reincarnate`` puts a new process on the
   same queues: ``kill -9`` of one idle worker stopped all extraction. Here
   dssportal.infra.clusterkeeper replaces the whole cluster when a process of it is killed or
   its sentinel hangs; the fields in hand are taken back by the sweepers.

So the workers finish the field in hand when they can, and whatever is left after
``STOP_SECONDS`` is killed. Fields cut short are reclaimed at once by the other clusters'
sweepers (extraction.services.sweeper); their files are written atomically, so none is partial.

This command takes precedence over django-q2's because ``dssportal`` is listed before
``django_q`` in INSTALLED_APPS. ``--run-once`` and ``--name`` go to django-q2's own command.
Every form first checks that this host signs with the site's key
(dssportal.infra.signingkey), waiting for the database; a running cluster checks again every
``DSSPORTAL_SIGNING_KEY_RECHECK_S`` and stops when the site's key has changed under it.
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from django import db
from django.conf import settings
from django.core.management.base import CommandError
from django.db import DatabaseError
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand

from dssportal.infra.clusterkeeper import ClusterKeeper
from dssportal.infra.signingkey import signing_key_problem


class Command(DjangoQClusterCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        settings.SECRET_KEY  # noqa: B018  (signing needs it: fail before starting anything)
        self._refuse_another_signing_key()
        if options.get("run_once") or options.get("cluster_name"):
            return super().handle(*args, **options)
        keeper = ClusterKeeper(
            recheck=signing_key_problem,
            recheck_every_s=settings.DSSPORTAL_SIGNING_KEY_RECHECK_S,
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            keeper.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        keeper.run()
        if keeper.refused:
            raise CommandError(f"qcluster stopped: {keeper.refused}")

    def _refuse_another_signing_key(self) -> None:
        """A cluster with another key than the site's would drop every task it takes. The
        database is waited for: a worker host may come up before it."""
        waiting_since = time.monotonic()
        said = 0.0
        while True:
            try:
                problem = signing_key_problem()
                break
            except DatabaseError as exc:
                waited = time.monotonic() - waiting_since
                if waited >= said:
                    self.stderr.write(
                        f"qcluster: waiting for the database to check the signing key "
                        f"({waited:.0f} s so far): {str(exc).strip()[:200]}"
                    )
                    said = waited + 30.0
                db.connections.close_all()
                time.sleep(2.0)
        db.connections.close_all()
        if problem:
            raise CommandError(f"qcluster will not start: {problem}")
