"""Settings of the processes tests/test_faults*.py start: the real ones, plus

- a mail backend that records every completion mail handed to it and, when told to, kills its
  whole process group at the first one, between the settle's commit and the send
  (tests/fault_mail.py);
- the worker module's log at INFO, so that a test counts duplicated tasks ("not claimed");
- the queue named by ``FAULT_TEST_QUEUE``: each test session its own list on the shared test
  Redis, where two sessions on one machine took each other's tasks.
"""

from __future__ import annotations

import os

from dssportal.settings import *  # noqa: F403
from dssportal.settings import LOGGING, Q_CLUSTER

EMAIL_BACKEND = "tests.fault_mail.RecordingOutboxBackend"
LOGGING = {**LOGGING, "loggers": {"extraction.services.worker": {"level": "INFO"}}}
Q_CLUSTER = {**Q_CLUSTER, "name": os.environ.get("FAULT_TEST_QUEUE", "dssportal")}
