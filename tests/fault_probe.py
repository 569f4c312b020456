"""Set up a database for tests/test_faults.py: schema, the real DSS plate and a user.

Usage (the environment names the database, the broker and the data dir):
    python tests/fault_probe.py setup
    python tests/fault_probe.py sleeps N SECONDS   enqueue N tasks that sleep SECONDS each
    python tests/fault_probe.py broker-idle        print what the sweeper's broker_idle() says
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402


def setup() -> None:
    from accounts.services import user_create
    from tests.factories import register_real_dss_plate

    call_command("migrate", verbosity=0)
    register_real_dss_plate()
    user_create(username="alice", email="alice@example.org", password="x", quota_mb=1000)
    print("ready")


def sleeps(n_tasks: int, seconds: float) -> None:
    from extraction.services.queue import enqueue

    for n in range(n_tasks):
        enqueue("time.sleep", seconds, task_name=f"sleep-{n}")


def broker_idle() -> None:
    from extraction.services.queue import broker_idle

    print(broker_idle())


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["setup"]:
            setup()
        case ["sleeps", n_tasks, seconds]:
            sleeps(int(n_tasks), float(seconds))
        case ["broker-idle"]:
            broker_idle()
        case _:
            sys.exit(__doc__)
