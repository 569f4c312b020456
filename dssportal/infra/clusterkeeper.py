"""Keep a django-q2 cluster working whichever of its processes dies (dssportal's ``qcluster``).

The processes of a django-q2 cluster share multiprocessing queues and values whose locks are
POSIX semaphores, and a process killed while it holds one never gives it back. An idle worker
holds the task queue's reader lock while it waits for a task, so after ``kill -9`` of that
worker every other worker, and the one django-q2 reincarnates in its place, slept in
``futex_wait`` on that lock for ever; the monitor holds the result queue's reader lock the
same way; a worker holds its timer's lock while it hands in a result, and the sentinel takes
each worker's timer lock every half second. django-q2 reincarnates the dead process into the
same, possibly locked, queues.

So after a process of the cluster died other than by exiting, nothing of that cluster is
trusted, and a new one with new queues and locks takes over:

- :class:`WatchedSentinel` (django-q2's sentinel) ends its whole cluster, instead of
  reincarnating one process, when a worker, the pusher or the monitor was killed by a signal
  or is stuck past its timeout. A process that exited (a worker recycled after its tasks, a
  pusher after a broker error) is reincarnated as django-q2 does.
- :class:`ClusterKeeper`, in the ``qcluster`` command, starts a new cluster when the sentinel
  ends or stops beating for ``HANG_SECONDS`` (stuck on such a lock itself).
- Every process of a cluster gets SIGKILL when its parent ends (PR_SET_PDEATHSIG): nothing of
  a killed sentinel or command keeps running, taking tasks off the broker or holding fields,
  beside the new cluster. systemd or the supervisor (dssportal.infra.supervise) restarts a killed
  command.

The fields the dead cluster had in hand are taken back by the sweepers of the new cluster's
workers (extraction.services.sweeper): each field is leased and claimed once, so none is lost
and none is done twice.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from multiprocessing import util as multiprocessing_util
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

from django import db
from django_q.cluster import Sentinel, get_mp_context

from dssportal.infra.processes import descendant_pids, die_with_parent

log = logging.getLogger(__name__)

#: A sentinel that has not run its guard loop (a cycle every half second) for this long is
#: stuck, most likely on a lock a killed process held, and its cluster is replaced.
HANG_SECONDS = 15.0
#: The wait before a new cluster replaces one that ended; longer when the last two ended soon
#: after their start (broker or database away), so that a restart loop stays slow.
RESTART_DELAY_SECONDS = 0.5
SHORT_LIVED_SECONDS = 10.0
SHORT_LIVED_RESTART_DELAY_SECONDS = 5.0
#: How long a worker that reached its timeout gets to exit by itself (django-q2 raises in the
#: task and the worker exits) before it counts as stuck.
TIMEOUT_EXIT_SECONDS = 2.0
#: Time the workers get to finish the fields in hand on a stop, before everything is killed.
STOP_SECONDS = 8.0

#: The sentinel's exit status when it ended its cluster because a process of it was killed.
CLUSTER_BROKEN_EXIT = 75


class WatchedSentinel(Sentinel):
    """django-q2's sentinel that ends its whole cluster when one of its processes was killed,
    and beats a heartbeat from its guard loop."""

    def __init__(
        self,
        stop_event: Event,
        start_event: Event,
        cluster_id: uuid.UUID,
        heartbeat: ctypes.c_double,
    ) -> None:
        self.heartbeat = heartbeat  # before super().__init__, which runs the guard loop
        super().__init__(stop_event, start_event, cluster_id)

    def status(self) -> str:
        # Called for the cluster's Stat once every guard cycle, and after the queue checks.
        self.heartbeat.value = time.monotonic()
        return str(super().status())

    def reincarnate(self, process: BaseProcess) -> None:
        if process.is_alive():  # a worker at its timeout: it is meant to be exiting now
            process.join(TIMEOUT_EXIT_SECONDS)
        if process.exitcode is not None and process.exitcode >= 0:
            super().reincarnate(process)  # it exited: every lock of it was given back
            return
        self._end_cluster(process)

    def _end_cluster(self, process: BaseProcess) -> None:
        log.critical(
            "%s %s (pid %s) %s: ending the whole cluster (its queues may stay locked); "
            "qcluster starts a new one",
            self._role(process),
            process.name,
            process.pid,
            _how_it_ended(process.exitcode),
        )
        for child in [*self.pool, self.monitor, self.pusher]:
            if child is not None and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
        os._exit(CLUSTER_BROKEN_EXIT)

    def _role(self, process: BaseProcess) -> str:
        if process is self.monitor:
            return "the monitor"
        if process is self.pusher:
            return "the pusher"
        return "worker"


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is None:
        return f"is still running {TIMEOUT_EXIT_SECONDS:.0f} s after its timeout"
    try:
        return f"was killed by {signal.Signals(-exitcode).name}"
    except ValueError:
        return f"ended with status {exitcode}"


def _run_sentinel(
    stop_event: Event, start_event: Event, cluster_id: uuid.UUID, heartbeat: ctypes.c_double
) -> None:
    WatchedSentinel(stop_event, start_event, cluster_id, heartbeat)


def _die_with_forking_parent(_: object) -> None:
    """Run by multiprocessing in every process the command or the sentinel forks."""
    die_with_parent(signal.SIGKILL)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)  # the parent died between the fork and the line above


class ClusterKeeper:
    """Run a cluster, and a new one whenever it ends or hangs, until :meth:`stop`."""

    def __init__(
        self, recheck: Callable[[], str | None] | None = None, recheck_every_s: float = 30.0
    ) -> None:
        """``recheck``: asked every ``recheck_every_s`` whether this host may go on taking
        tasks (None) or why not; a reason stops the cluster and is kept in ``refused``."""
        self.recheck = recheck
        self.recheck_every_s = recheck_every_s
        self.refused: str | None = None
        self._rechecked = time.monotonic()
        self.stopping = False
        self.sentinel: BaseProcess | None = None
        self.stop_event: Event | None = None
        # The registry of after-fork hooks is inherited: the sentinel's children run it too.
        multiprocessing_util.register_after_fork(self, _die_with_forking_parent)

    def run(self) -> None:
        short_lived = 0  # clusters in a row that ended soon after their start
        while not self.stopping:
            started = time.monotonic()
            heartbeat = self._start()
            ended = self._watch(heartbeat)
            if self.stopping:
                return
            short_lived = short_lived + 1 if time.monotonic() - started < SHORT_LIVED_SECONDS else 0
            delay = SHORT_LIVED_RESTART_DELAY_SECONDS if short_lived > 1 else RESTART_DELAY_SECONDS
            log.critical("the task cluster %s; a new one starts in %.1f s", ended, delay)
            self._kill_leftovers()
            self._sleep(delay)

    def stop(self, exit_status: int = 0) -> None:
        """Stop after the fields in hand, or kill everything after ``STOP_SECONDS`` and exit
        with ``exit_status`` (for a signal handler: the main loop does the rest)."""
        if self.stopping:
            return
        self.stopping = True
        threading.Thread(
            target=_kill_everything_after, args=(STOP_SECONDS, exit_status), daemon=True
        ).start()

    def _refused_now(self) -> str | None:
        """The recheck's reason to stop, when one is due and finds one (a database that
        cannot be asked is no reason: the next recheck asks again)."""
        if self.recheck is None or time.monotonic() - self._rechecked < self.recheck_every_s:
            return None
        self._rechecked = time.monotonic()
        try:
            return self.recheck()
        except db.DatabaseError:
            return None
        finally:
            db.connections.close_all()  # a sentinel forked later must not share it

    def _start(self) -> Any:
        db.connections.close_all()  # the sentinel must not share the command's connections
        context = get_mp_context()  # fork, as django-q2 forks the sentinel's children
        heartbeat = context.RawValue("d", time.monotonic())
        self.stop_event, start_event = context.Event(), context.Event()
        self.sentinel = context.Process(
            target=_run_sentinel,
            args=(self.stop_event, start_event, uuid.uuid4(), heartbeat),
            name=f"Process-{uuid.uuid4().hex}",
        )
        self.sentinel.start()
        return heartbeat

    def _watch(self, heartbeat: Any) -> str:
        """Wait until the sentinel ends (what happened) or, on a stop, until it has stopped."""
        sentinel = self.sentinel
        assert sentinel is not None and sentinel.pid is not None and self.stop_event is not None
        asked_to_stop = False
        while True:
            sentinel.join(0.5)
            if not sentinel.is_alive():
                return f"ended (sentinel exit status {sentinel.exitcode})"
            if self.stopping:
                if not asked_to_stop:
                    asked_to_stop = True
                    self._ask_to_stop(sentinel, self.stop_event)
                continue
            refused = self._refused_now()
            if refused:
                log.critical("the task cluster stops: %s", refused)
                self.refused = refused
                self.stop(exit_status=1)
                continue
            silent = time.monotonic() - heartbeat.value
            if silent > HANG_SECONDS:
                os.kill(sentinel.pid, signal.SIGKILL)  # its processes die with it
                sentinel.join()
                return f"was stuck (no guard cycle for {silent:.0f} s) and was killed"

    @staticmethod
    def _ask_to_stop(sentinel: BaseProcess, stop_event: Event) -> None:
        # A signal to the whole process group reaches the sentinel too, which dies of it at
        # once; setting the event then would wait for ever for a waiter that never wakes.
        sentinel.join(0.3)
        if sentinel.is_alive():
            log.info("stopping: workers finish the fields in hand (at most %s s)", STOP_SECONDS)
            stop_event.set()

    @staticmethod
    def _kill_leftovers() -> None:
        """Processes of the old cluster still below the command (none, normally: each died
        with its parent)."""
        for pid in descendant_pids(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)


def _kill_everything_after(seconds: float, exit_status: int) -> None:
    time.sleep(seconds)
    for pid in descendant_pids(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os._exit(exit_status)
