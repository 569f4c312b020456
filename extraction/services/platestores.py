"""Which plate store this process reads plates from, and where imports write them.

With ``DSSPORTAL_PLATES_URL`` set, a worker reads plates over HTTP from that base URL (the
archive's plates folder served read-only, see README "Production"); otherwise from the
plates folder ``$DSSPORTAL_DATA_DIR/plates``. Either way a plate is named by its key, its
path inside the plates folder (``Plate.data_file``). Imports always write the local folder:
they run on the host that has it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from django.conf import settings

from extraction.core.httpplates import HttpPlateStore
from extraction.core.platestore import LocalPlateStore, PlateStore


def plate_key(*, survey: str, plate_id: str) -> str:
    """The key of a plate the archive stores: ``<survey>/<plate_id>.fits``."""
    return f"{survey}/{plate_id}.fits"


def local_plate_store() -> LocalPlateStore:
    """The plates folder of this host, where imports write."""
    return LocalPlateStore(Path(settings.PLATES_DIR))


def plate_store() -> PlateStore:
    """The store this process reads plates from (settings decide, per process)."""
    if settings.DSSPORTAL_PLATES_URL:
        return _http_store(settings.DSSPORTAL_PLATES_URL)
    return local_plate_store()


@functools.cache
def _http_store(base_url: str) -> HttpPlateStore:
    # One per process and URL: it holds the opened plates and the connections.
    return HttpPlateStore(base_url)
