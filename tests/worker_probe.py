"""A worker process for tests/test_worker_kill.py: run one phase against a shared SQLite file.

Usage: python tests/worker_probe.py DATA_DIR PHASE [FIELD_ID]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
data_dir = Path(sys.argv[1])
os.environ["DSSPORTAL_DATA_DIR"] = str(data_dir)
os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'db.sqlite3'}"
os.environ["DJANGO_SETTINGS_MODULE"] = "dssportal.settings_test"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402


def setup() -> None:
    from accounts.services import user_create
    from extraction.services import queue
    from extraction.services.requests import request_create_from_text
    from tests.factories import register_real_dss_plate

    call_command("migrate", verbosity=0)
    register_real_dss_plate()
    user = user_create(username="probe", email="probe@example.org", password="x")
    queue.enqueue_field = lambda field_id, **_: None  # the test plays the worker itself
    outcome = request_create_from_text(
        user=user, text="real 14 29 56 -62 41 05 1. 1. J2000 DSS1 0025 U", source="web"
    )
    print(outcome.request.fields.get().pk)


def extract(field_id: int, *, hang: bool) -> None:
    from extraction.core import files
    from extraction.services.extraction import field_extract

    if hang:

        def fsync_then_hang(fd: int) -> None:
            print("writing", flush=True)
            time.sleep(120)

        files.os.fsync = fsync_then_hang  # type: ignore[attr-defined]
    print(field_extract(field_id=field_id), flush=True)


def sweep_scratch() -> None:
    from extraction.services.sweeper import scratch_of_dead_processes_remove

    print(f"removed {len(scratch_of_dead_processes_remove())}")


if __name__ == "__main__":
    phase = sys.argv[2]
    if phase == "setup":
        setup()
    elif phase == "sweep-scratch":
        sweep_scratch()
    else:
        extract(int(sys.argv[3]), hang=phase == "extract-hang")
