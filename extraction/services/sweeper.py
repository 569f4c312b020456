"""Reclaiming fields a dead worker or cluster had taken, so that they are done without waiting.

Two kinds of field are lost when a cluster dies (SIGKILL, host lost, OOM):

- *abandoned*: ``running``, but nobody holds the field's lease (services.leases) any more;
- *orphaned*: ``queued``, but the cluster had already taken its task off the broker (the Redis
  broker has no acknowledgement; the ORM broker hides a taken task for ``retry`` seconds).

Abandoned fields are put back to ``queued`` with a guarded update. Orphaned ones cannot be told
apart from fields whose task is still waiting in the broker, so they are only reclaimed when
the broker has nothing waiting (the caller says so) and the request is older than a grace
period; at worst a live cluster then gets a second task for a field it is about to do, and the
guarded claim makes that task a no-op.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from extraction.models import Field, FieldStatus
from extraction.services.extraction import scratch_root
from extraction.services.leases import lease_release, lease_take

#: A request younger than this may still be enqueueing its fields (on commit).
ORPHAN_GRACE = timedelta(seconds=5)


@dataclass(frozen=True)
class Reclaimed:
    abandoned: list[int]
    orphaned: list[int]

    @property
    def field_ids(self) -> list[int]:
        return self.abandoned + self.orphaned


def fields_reclaim(*, broker_idle: bool) -> Reclaimed:
    """Put abandoned fields back to queued; list them and the orphaned ones to enqueue again."""
    running = Field.objects.filter(status=FieldStatus.RUNNING).values_list("pk", flat=True)
    abandoned = [field_id for field_id in running if _requeue_abandoned(field_id)]
    orphaned: list[int] = []
    if broker_idle:
        orphaned = list(
            Field.objects.filter(
                status=FieldStatus.QUEUED,
                request__received_at__lt=timezone.now() - ORPHAN_GRACE,
            )
            .exclude(pk__in=abandoned)
            .values_list("pk", flat=True)
        )
    return Reclaimed(abandoned=abandoned, orphaned=orphaned)


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


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
