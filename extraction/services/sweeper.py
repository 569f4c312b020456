"""Reclaiming fields a dead worker or cluster had taken, so that they are done without waiting.

Two kinds of field are lost when a cluster dies (SIGKILL, host lost, OOM):

- *abandoned*: ``running``, but nobody holds the field's lease (services.leases) any more;
- *orphaned*: ``queued``, but the cluster had already taken its task off the broker (the Redis
  broker has no acknowledgement; the ORM broker hides a taken task for ``retry`` seconds).

Abandoned fields are put back to ``queued`` with a guarded update. Orphaned ones are told apart
from fields whose task still waits in the broker by the order tasks leave it: both brokers hand
tasks out first in, first out, and every field records when its task was enqueued
(``Field.enqueued_at``, shared by the fields of one task). So a queued field is orphaned

- when a task enqueued after its own was taken more than ``ORPHAN_GRACE`` ago (a worker
  claimed one of that task's fields), while nothing shows its own task in progress (no field
  of it running, none finished within the grace period: a live worker claims the fields of a
  grouped task together and finishes them one after the other); or
- when the broker has nothing waiting at all (the caller says so), it was enqueued more than
  ``ORPHAN_GRACE`` ago, and nothing shows its task in progress either.

At worst a live cluster that had taken the task but not started it yet (a cluster prefetches a
few) then gets a second task for the field, and the lease and guarded claim make one of the
two a no-op.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from extraction.models import Field, FieldStatus, Request, RequestStatus
from extraction.services.extraction import scratch_root
from extraction.services.leases import lease_release, lease_take
from extraction.services.lifecycle import OPEN_FIELD_STATES, request_settle
from extraction.services.previews import preview_scratch_dir

#: How long a task may sit taken, in a live cluster, before its first field is claimed; also
#: how long a grouped task may pause between two of its fields.
ORPHAN_GRACE = timedelta(seconds=5)


@dataclass(frozen=True)
class Reclaimed:
    abandoned: list[int]
    orphaned: list[int]

    @property
    def field_ids(self) -> list[int]:
        return self.abandoned + self.orphaned


def fields_reclaim(*, broker_idle: bool, orphans: bool = True) -> Reclaimed:
    """Put abandoned fields back to queued; list them and (``orphans``) the orphaned ones to
    enqueue again."""
    running = Field.objects.filter(status=FieldStatus.RUNNING).values_list("pk", flat=True)
    abandoned = [field_id for field_id in running if _requeue_abandoned(field_id)]
    if not orphans:
        return Reclaimed(abandoned=abandoned, orphaned=[])
    cutoff = timezone.now() - ORPHAN_GRACE
    waiting = Field.objects.filter(status=FieldStatus.QUEUED).exclude(pk__in=abandoned)
    if broker_idle:
        lost = waiting.filter(
            Q(enqueued_at__lt=cutoff) | Q(enqueued_at=None, request__received_at__lt=cutoff)
        )
    else:
        lost = _queued_behind_taken_tasks(waiting, cutoff)
    orphaned = _without_tasks_in_progress(lost, cutoff).values_list("pk", flat=True)
    return Reclaimed(abandoned=abandoned, orphaned=list(orphaned))


def _queued_behind_taken_tasks(waiting: QuerySet[Field], cutoff: datetime) -> QuerySet[Field]:
    """The queued fields whose task has left the broker: one enqueued later was taken."""
    open_requests = (RequestStatus.QUEUED, RequestStatus.RUNNING)
    newest_taken = Field.objects.filter(
        request__status__in=open_requests, started_at__lt=cutoff, enqueued_at__isnull=False
    ).aggregate(newest=Max("enqueued_at"))["newest"]
    if newest_taken is None:
        return waiting.none()
    return waiting.filter(enqueued_at__lt=newest_taken)


def _without_tasks_in_progress(fields: QuerySet[Field], cutoff: datetime) -> QuerySet[Field]:
    """Leave out the fields of a task a live worker is going through (one of its fields is
    running, or finished within the grace period)."""
    in_progress = Field.objects.filter(
        enqueued_at__in=fields.filter(enqueued_at__isnull=False).values("enqueued_at")
    ).filter(Q(status=FieldStatus.RUNNING) | Q(finished_at__gte=cutoff))
    return fields.exclude(enqueued_at__in=in_progress.values("enqueued_at"))


def requests_settle_stalled() -> list[int]:
    """Settle the requests whose fields have all ended but whose last settle never ran (its
    worker died, or lost the database, between finishing the field and settling); the ids of
    those this call finished. The settle itself decides under the row lock, so a worker
    settling at the same moment makes no second mail."""
    open_fields = Field.objects.filter(request=OuterRef("pk"), status__in=OPEN_FIELD_STATES)
    stalled = (
        Request.objects.filter(
            status__in=(RequestStatus.QUEUED, RequestStatus.RUNNING),
            notified_at=None,
            n_fields__gt=0,
        )
        .exclude(Exists(open_fields))
        .values_list("pk", flat=True)
    )
    return [request_id for request_id in stalled if request_settle(request_id=request_id)]


def _requeue_abandoned(field_id: int) -> bool:
    """Running -> queued, holding the lease so that no worker takes the field meanwhile."""
    if not lease_take(field_id):
        return False  # a live worker has it
    try:
        return (
            Field.objects.filter(pk=field_id, status=FieldStatus.RUNNING).update(
                status=FieldStatus.QUEUED, started_at=None
            )
            == 1
        )
    finally:
        lease_release(field_id, finished=False)


def scratch_of_dead_processes_remove() -> list[str]:
    """Remove the scratch folders (partial files) of this host's processes that have died.

    Each host cleans its own: a folder is named ``<host>-<pid>`` by the process that wrote it.
    """
    removed = []
    host = socket.gethostname()
    root = scratch_root()
    for folder in root.glob(f"{host}-*") if root.is_dir() else []:
        pid = folder.name.rsplit("-", 1)[1]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


#: A quick-look is written in well under a second; a partial one older than this was left by
#: a web process that died while writing it.
PREVIEW_PARTIAL_MAX_AGE = timedelta(hours=1)


def preview_partials_stale_remove() -> list[str]:
    """Remove partial quick-looks (``previews/.partial``) left by dead web processes.

    By age, not by process: web hosts run no sweeper, and the folder is shared by all of them.
    """
    folder = preview_scratch_dir()
    cutoff = time.time() - PREVIEW_PARTIAL_MAX_AGE.total_seconds()
    removed = []
    for partial in folder.glob("*.part") if folder.is_dir() else []:
        with contextlib.suppress(FileNotFoundError):  # another host's sweeper was quicker
            if partial.stat().st_mtime < cutoff:
                partial.unlink()
                removed.append(partial.name)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
