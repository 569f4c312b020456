"""Set up a database for tests/test_faults.py: schema, the real DSS plate and a user.

Usage: python tests/fault_probe.py setup  (the environment names the database and data dir)
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


if __name__ == "__main__":
    if sys.argv[1:] == ["setup"]:
        setup()
    else:
        sys.exit(__doc__)
