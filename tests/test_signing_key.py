"""Every host must sign with the site's SECRET_KEY: a worker host with another key took its
share of tasks off the broker and dropped each one (BadSignature), with nothing warning."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from dssportal.infra.signingkey import fingerprint, signing_key_problem
from dssportal.models import SigningKeyRecord
from tests.test_production import manage, production_env

SITE_KEY = "the-site-key-" + "a" * 50
OTHER_KEY = "another-key-" + "b" * 50


@pytest.fixture
def site_key(settings, db) -> None:
    """The site's hosts sign with SITE_KEY, in production (DEBUG off)."""
    settings.DEBUG = False
    settings.SECRET_KEY = SITE_KEY
    settings.SECRET_KEY_FALLBACKS = []
    assert signing_key_problem() is None  # the first host records its key


def test_the_first_host_records_its_key_and_a_host_with_it_agrees(site_key) -> None:
    (record,) = SigningKeyRecord.objects.all()
    assert record.fingerprint == fingerprint(SITE_KEY) and SITE_KEY not in record.fingerprint
    assert signing_key_problem() is None


def test_a_host_with_another_key_is_told_and_healthz_takes_it_out(site_key, settings, client):
    settings.SECRET_KEY = OTHER_KEY
    problem = signing_key_problem()
    assert problem and "not the one the site's hosts share" in problem
    response = client.get("/healthz")
    assert response.status_code == 503 and response["Retry-After"]
    assert "not the one the site's hosts share" in response.json()["signing_key"]
    settings.SECRET_KEY = SITE_KEY
    assert client.get("/healthz").json() == {
        "ok": True, "database": "ok", "broker": "ok", "signing_key": "ok"
    }  # fmt: skip


def test_qcluster_with_another_key_refuses_to_start(site_key, settings) -> None:
    settings.SECRET_KEY = OTHER_KEY
    with pytest.raises(CommandError, match="qcluster will not start: this host's SECRET_KEY"):
        call_command("qcluster")


def test_a_rotation_through_fallbacks_moves_the_site_to_the_new_key(site_key, settings) -> None:
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OTHER_KEY, [SITE_KEY]
    assert signing_key_problem() is None
    assert SigningKeyRecord.objects.get().fingerprint == fingerprint(OTHER_KEY)
    # A host still on the old key, not told of the new one, is now the odd one out.
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = SITE_KEY, []
    assert signing_key_problem()


def test_record_signing_key_makes_this_hosts_key_the_sites(site_key, settings) -> None:
    settings.SECRET_KEY = OTHER_KEY
    assert signing_key_problem()
    call_command("record_signing_key", stdout=io.StringIO())
    assert signing_key_problem() is None
    settings.SECRET_KEY = SITE_KEY
    assert signing_key_problem()


def test_a_development_machine_records_a_new_key_instead(site_key, settings) -> None:
    """make writes a random key to a new .env; the SQLite database outlives it."""
    settings.DEBUG, settings.SECRET_KEY = True, OTHER_KEY
    assert signing_key_problem() is None
    assert SigningKeyRecord.objects.get().fingerprint == fingerprint(OTHER_KEY)


@pytest.mark.processes
def test_a_worker_host_started_with_another_key_exits_at_once_saying_why(tmp_path: Path):
    """The real command, as systemd starts it: two hosts of one site, one with a stray key."""
    first = production_env(tmp_path, SECRET_KEY=SITE_KEY)
    assert manage(first, "migrate", "--verbosity", "0").returncode == 0
    assert manage(first, "record_signing_key").returncode == 0
    stray = manage(production_env(tmp_path, SECRET_KEY=OTHER_KEY), "qcluster")
    assert stray.returncode != 0
    assert "qcluster will not start: this host's SECRET_KEY is not the one" in stray.stderr
    assert "Traceback" not in stray.stderr
