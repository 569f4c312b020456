from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import EmailAddress, User
from accounts.selectors import user_for_sender

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_add_user_creates_an_active_user_with_a_verified_address() -> None:
    call_command("add_user", "hubble", "Edwin@Example.org", password="m31-is-far", quota_mb=42)
    user = User.objects.get(username="hubble")
    assert user.is_active and not user.is_staff
    assert user.quota_mb == 42
    assert user.check_password("m31-is-far")
    address = EmailAddress.objects.get(user=user)
    assert address.verified and address.primary
    # Senders are matched on the address, whatever its case.
    assert user_for_sender("edwin@EXAMPLE.org") == user


@pytest.mark.django_db
def test_default_quota_comes_from_settings(settings) -> None:
    settings.DSSPORTAL_DEFAULT_QUOTA_MB = 77
    call_command("add_user", "leavitt", "henrietta@example.org", password="cepheids")
    assert User.objects.get(username="leavitt").quota_mb == 77


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("username", "email", "message"),
    [
        ("hubble", "other@example.org", "A user named 'hubble' already exists"),
        ("HUBBLE", "other@example.org", "A user named 'HUBBLE' already exists"),
        ("zwicky", "EDWIN@example.org", "EDWIN@example.org is already registered"),
        ("zwicky", "not-an-address", "'not-an-address' is not a valid e-mail address"),
        ("bad name!", "z@example.org", "Username 'bad name!' is not allowed"),
    ],
)
def test_add_user_refuses_duplicates_and_bad_input(username: str, email: str, message: str) -> None:
    call_command("add_user", "hubble", "edwin@example.org", password="m31-is-far")
    with pytest.raises(CommandError, match=message):
        call_command("add_user", username, email, password="whatever-else")
    assert User.objects.count() == 1


def test_refusal_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DSSPORTAL_")}
    environment.update(
        DJANGO_SETTINGS_MODULE="dssportal.settings",
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DSSPORTAL_DATA_DIR=str(tmp_path),
    )

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert manage("migrate", "-v0").returncode == 0
    first = manage("add_user", "hubble", "edwin@example.org", "--password", "m31-is-far")
    assert first.returncode == 0, first.stderr
    assert "Created user hubble" in first.stdout
    again = manage("add_user", "hubble2", "edwin@example.org", "--password", "x")
    assert again.returncode != 0
    assert "edwin@example.org is already registered to another user" in again.stderr
