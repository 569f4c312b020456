"""Test configuration: the real settings with a fast hasher, inline tasks and a private data dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "dssportal-test-secret-key")
if "DSSPORTAL_DATA_DIR" not in os.environ:
    os.environ["DSSPORTAL_DATA_DIR"] = tempfile.mkdtemp(prefix="dssportal-test-")
    os.environ["DSSPORTAL_TEST_DATA_ROOT"] = os.environ["DSSPORTAL_DATA_DIR"]
if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(
    "DSSPORTAL_TEST_DATA_ROOT"
) == os.environ.get("DSSPORTAL_DATA_DIR"):
    # xdist workers inherit the controller's data dir; each needs its own, or their field
    # leases (flock files, keyed by ids that every worker's test database reuses) collide.
    # Only that inherited dir: a subprocess a test starts with a data dir of its own (which
    # also inherits PYTEST_XDIST_WORKER) keeps the one it was given.
    _own = Path(os.environ["DSSPORTAL_DATA_DIR"]) / os.environ["PYTEST_XDIST_WORKER"]
    _own.mkdir(parents=True, exist_ok=True)
    os.environ["DSSPORTAL_DATA_DIR"] = str(_own)

from dssportal.settings import *  # noqa: F403
from dssportal.settings import DATA_DIR, DATABASES, Q_CLUSTER

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
TEST_DATA_DIR: Path = DATA_DIR
(DATA_DIR / "static").mkdir(parents=True, exist_ok=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A test database in a file, as the portal runs: an in-memory one is shared-cache, where a
    # write meeting another connection's transaction fails at once ("database table is
    # locked") instead of waiting out the busy timeout as the real file does.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
