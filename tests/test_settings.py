"""Settings come from the environment and refuse malformed values loudly, at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from dssportal.infra import env

ROOT = Path(__file__).resolve().parent.parent

PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
    "'q': {k: v for k, v in s.Q_CLUSTER.items() if k in ('orm', 'redis', 'sync')}, "
    "'days': s.DSSPORTAL_STAGING_DAYS, 'backend': s.EMAIL_BACKEND, 'data': str(s.DATA_DIR)}))"
)


def run_settings(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DSSPORTAL_", "DATABASE_URL", "REDIS_URL", "EMAIL_"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="dssportal.settings",
        DEBUG="0",
        SECRET_KEY="probe-secret",
        DSSPORTAL_DATA_DIR=str(tmp_path),
    )
    environment.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DSSPORTAL_STAGING_DAYS", "ten", "DSSPORTAL_STAGING_DAYS='ten' is not a whole number"),
        ("DSSPORTAL_STAGING_DAYS", "0", "below the minimum of 1"),
        ("DSSPORTAL_MAX_FIELD_ARCMIN", "nan", "is not a finite number"),
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("DATABASE_URL", "nonsense://somewhere/db", "DATABASE_URL='nonsense://somewhere/db'"),
        ("REDIS_URL", "http://127.0.0.1:6379", "is not a redis:// URL"),
        ("DSSPORTAL_PLATES_URL", "archive:/srv/plates", "is not an http:// or https:// URL"),
        ("DSSPORTAL_REQUEST_ADDRESS", "not an address", "is not an e-mail address"),
        ("SECRET_KEY", "", "SECRET_KEY is required when DEBUG is off"),
        ("SECRET_KEY_FILE", "/nonexistent/secret", "SECRET_KEY_FILE='/nonexistent/secret'"),
    ],
)
def test_malformed_setting_stops_start_up(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    result = run_settings(tmp_path, **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_defaults_are_the_embedded_configuration(tmp_path: Path) -> None:
    result = run_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"engine": "django.db.backends.sqlite3"' in result.stdout
    assert '"orm": "default"' in result.stdout
    assert '"days": 10' in result.stdout
    assert "dssportal.infra.outbox.OutboxEmailBackend" in result.stdout
    assert str(tmp_path) in result.stdout


def test_database_and_broker_follow_the_environment(tmp_path: Path) -> None:
    result = run_settings(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/whatever",
        REDIS_URL="redis://127.0.0.1:6379/3",
        DSSPORTAL_TASKS_SYNC="1",
        EMAIL_HOST="127.0.0.1",
    )
    assert result.returncode == 0, result.stderr
    assert "postgresql" in result.stdout
    assert '"redis": "redis://127.0.0.1:6379/3"' in result.stdout
    assert '"orm"' not in result.stdout
    assert '"sync": true' in result.stdout
    assert "smtp.EmailBackend" in result.stdout


def test_secret_read_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("PROBE_FILE", str(secret))
    assert env.env_str("PROBE") == "s3cret"


@pytest.mark.parametrize("raw", ["1", "true", "Yes", "ON"])
def test_truthy_values(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("PROBE_BOOL", raw)
    assert env.env_bool("PROBE_BOOL") is True


def test_list_and_malformed_float(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_LIST", " a.example.org, ,b.example.org ")
    assert env.env_list("PROBE_LIST", []) == ["a.example.org", "b.example.org"]
    monkeypatch.setenv("PROBE_FLOAT", "60'")
    with pytest.raises(ImproperlyConfigured, match='PROBE_FLOAT="60\'" is not a number'):
        env.env_float("PROBE_FLOAT", 1.0)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is required when DEBUG is off"),
        ({"DSSPORTAL_STAGING_DAYS": "ten"}, "DSSPORTAL_STAGING_DAYS='ten' is not a whole number"),
    ],
)
def test_a_command_with_a_bad_setting_says_so_in_one_line(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DSSPORTAL_",))}
    environment |= {"DEBUG": "0", "SECRET_KEY": "probe-secret"} | variables
    environment |= {"DSSPORTAL_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "qcluster", "--help"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"manage.py: ImproperlyConfigured: {message}")
