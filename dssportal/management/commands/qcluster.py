"""``qcluster`` that keeps extracting whichever process of its cluster is killed, and stops
within seconds of SIGTERM or Ctrl-C whatever state the cluster is in.

django-q2's own command runs one cluster and reincarnates a dead process into queues whose
locks that process may still hold: ``kill -9`` of one idle worker stopped all extraction.
Here dssportal.infra.clusterkeeper runs the cluster and replaces it whole when a process of
it is killed or its sentinel hangs; the fields in hand are taken back by the sweepers.

On SIGTERM or SIGINT the workers finish the field in hand and the command exits; whatever
is left after ``STOP_SECONDS`` is killed. Fields cut short are reclaimed at once by the other
clusters' sweepers (extraction.services.sweeper); their files are written atomically, so
none is partial.

This command takes precedence over django-q2's because ``dssportal`` is listed before
``django_q`` in INSTALLED_APPS.
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand

from dssportal.infra.clusterkeeper import ClusterKeeper


class Command(DjangoQClusterCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("run_once") or options.get("cluster_name"):
            return super().handle(*args, **options)
        settings.SECRET_KEY  # noqa: B018  (signing needs it: fail before starting anything)
        keeper = ClusterKeeper()

        def stop(signum: int, frame: FrameType | None) -> None:
            keeper.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        keeper.run()
