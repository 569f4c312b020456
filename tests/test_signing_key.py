"""Every host must sign with the site's SECRET_KEY: a worker host with another key took its
share of tasks off the broker and dropped each one (BadSignature), with nothing warning.

The in-process tests need PostgreSQL as the session's database (on SQLite, one host only, a
new key is simply recorded); the process tests run the real commands as hosts of a site on
a private PostgreSQL database, and on a SQLite file."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from dssportal.infra.signingkey import PUBLIC_PROBLEM, fingerprint, signing_key_problem
from dssportal.models import SigningKeyRecord
from tests.test_production import ROOT, manage, production_env

SITE_KEY = "the-site-key-" + "a" * 50
OTHER_KEY = "another-key-" + "b" * 50
on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="on SQLite a new key is recorded (one host)"
)


@pytest.fixture
def site_key(settings, db) -> None:
    """The site's hosts sign with SITE_KEY."""
    settings.SECRET_KEY = SITE_KEY
    assert signing_key_problem() is None  # the first host records its key


def test_the_first_host_records_a_fingerprint_and_a_host_with_it_agrees(site_key) -> None:
    (record,) = SigningKeyRecord.objects.all()
    assert record.fingerprint == fingerprint(SITE_KEY) and SITE_KEY not in record.fingerprint
    assert signing_key_problem() is None


@pytest.mark.postgres
@on_postgres
def test_a_host_with_another_key_is_told_and_healthz_takes_it_out(site_key, settings, client):
    settings.SECRET_KEY = OTHER_KEY
    problem = signing_key_problem()
    assert problem and problem.startswith(PUBLIC_PROBLEM) and "record_signing_key" in problem
    response = client.get("/healthz")
    assert response.status_code == 503 and response["Retry-After"]
    assert response.json()["signing_key"] == PUBLIC_PROBLEM  # no host name or date in public
    # Nothing moved: the site's key is still SITE_KEY, whoever asked.
    assert SigningKeyRecord.objects.get().fingerprint == fingerprint(SITE_KEY)
    settings.SECRET_KEY = SITE_KEY
    assert client.get("/healthz").json() == {
        "ok": True, "database": "ok", "broker": "ok", "signing_key": "ok"
    }  # fmt: skip


@pytest.mark.postgres
@on_postgres
@pytest.mark.parametrize("options", [{}, {"run_once": True}, {"cluster_name": "dssportal"}])
def test_qcluster_in_every_form_refuses_another_key(site_key, settings, options) -> None:
    settings.SECRET_KEY = OTHER_KEY
    with pytest.raises(CommandError, match="qcluster will not start: " + PUBLIC_PROBLEM):
        call_command("qcluster", **options)


@pytest.mark.postgres
@on_postgres
def test_record_signing_key_makes_this_hosts_key_the_sites(site_key, settings) -> None:
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OTHER_KEY, [SITE_KEY]
    assert signing_key_problem()  # fallbacks are for sessions and links, not for tasks
    call_command("record_signing_key", stdout=io.StringIO())
    assert signing_key_problem() is None
    settings.SECRET_KEY = SITE_KEY
    assert signing_key_problem()


# -- the real commands, as hosts of one site ---------------------------------------------------


@pytest.fixture
def site_db() -> Iterator[str]:
    """A private PostgreSQL database for the site's hosts (the machine's server)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    server = urllib.parse.urlsplit(url)
    name = f"signing_key_{uuid.uuid4().hex[:12]}"
    admin = server._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def host(tmp_path: Path, db_url: str, key: str, **extra: str) -> dict[str, str]:
    return production_env(tmp_path, SECRET_KEY=key, DATABASE_URL=db_url, **extra)


@pytest.mark.processes
def test_hosts_with_another_key_refuse_work_and_lose_no_mail(tmp_path: Path, site_db: str):
    first = host(tmp_path, site_db, SITE_KEY)
    assert manage(first, "migrate", "--verbosity", "0").returncode == 0
    assert manage(first, "record_signing_key").returncode == 0
    stray = host(tmp_path, site_db, OTHER_KEY)
    for command in (["qcluster"], ["qcluster", "--run-once"], ["runlmtp", "--port", "0"]):
        refused = manage(stray, *command)
        assert refused.returncode != 0, command
        assert PUBLIC_PROBLEM in refused.stderr and "Traceback" not in refused.stderr, command
    # A message piped by the MTA: deferred (EX_TEMPFAIL), so the MTA keeps it and retries.
    mail = b"From: a@example.org\r\nTo: dss-request@localhost\r\nSubject: x\r\n\r\nline\r\n"
    piped = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "ingest_mail"],
        env=stray, cwd=ROOT, input=mail, capture_output=True, timeout=120,
    )  # fmt: skip
    assert piped.returncode == 75 and PUBLIC_PROBLEM.encode() in piped.stderr


@pytest.mark.processes
def test_a_running_cluster_stops_when_the_sites_key_changes(tmp_path: Path, site_db: str):
    old = host(tmp_path, site_db, SITE_KEY, DSSPORTAL_SIGNING_KEY_RECHECK_S="1")
    assert manage(old, "migrate", "--verbosity", "0").returncode == 0
    cluster = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        env=old, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(3)
        assert cluster.poll() is None, cluster.stderr.read() if cluster.stderr else ""
        assert manage(host(tmp_path, site_db, OTHER_KEY), "record_signing_key").returncode == 0
        _out, err = cluster.communicate(timeout=30)
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, 9)
    assert cluster.returncode == 1
    assert "qcluster stopped: " + PUBLIC_PROBLEM in err.decode()


@pytest.mark.processes
def test_on_sqlite_a_new_key_is_recorded(tmp_path: Path) -> None:
    """SQLite serves one host: a new key there is a development machine's new .env."""
    first = production_env(tmp_path, SECRET_KEY=SITE_KEY)
    assert manage(first, "migrate", "--verbosity", "0").returncode == 0
    assert manage(first, "record_signing_key").returncode == 0
    check = "from dssportal.infra.signingkey import signing_key_problem as p; print(p())"
    asked = manage(production_env(tmp_path, SECRET_KEY=OTHER_KEY), "shell", "-c", check)
    assert asked.stdout.strip().splitlines()[-1] == "None"
    assert "recorded the new one" in asked.stderr
    with sqlite3.connect(tmp_path / "dssportal.sqlite3") as db:
        ((recorded,),) = db.execute("SELECT fingerprint FROM dssportal_signingkeyrecord")
    assert recorded == fingerprint(OTHER_KEY)
