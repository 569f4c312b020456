"""Shared fixtures: users and plates built through the services the portal itself uses."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest
from django.utils import timezone as django_timezone
from hypothesis import settings as hypothesis_settings

from accounts.models import User
from accounts.services import user_create

# CI runs each property test on the same examples every time (a failure there is reproducible
# and cannot come and go between runs); a developer's run draws fresh examples.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def make_user(db: None):
    counter = iter(range(1, 10_000))

    def _make(
        username: str | None = None,
        email: str | None = None,
        *,
        password: str = "correct horse battery",
        quota_mb: int | None = None,
        is_staff: bool = False,
    ) -> User:
        n = next(counter)
        return user_create(
            username=username or f"astronomer{n}",
            email=email or f"astronomer{n}@example.org",
            password=password,
            quota_mb=quota_mb,
            is_staff=is_staff,
        )

    return _make


@pytest.fixture
def staff_user(make_user) -> User:
    user = make_user("operator", "operator@example.org", is_staff=True)
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user


class FrozenClock:
    """The throttle's clock, stopped: attempts made in a loop happen at one instant however
    slow the machine is; ``advance`` lets time pass."""

    def __init__(self) -> None:
        self.instant = django_timezone.now()

    def now(self) -> datetime:
        return self.instant

    def advance(self, seconds: float) -> None:
        self.instant += timedelta(seconds=seconds)


@pytest.fixture
def frozen_clock(monkeypatch) -> FrozenClock:
    clock = FrozenClock()
    monkeypatch.setattr("accounts.throttle.timezone", clock)
    return clock


@pytest.fixture
def ngc7793_plate(db: None):
    """Plate 04IN (DSS1, SERC J, NGC 7793) in the catalogue, offline: the plate id of the
    second example line of REQUEST_FORMAT.md, which lists check against the catalogue."""
    from tests.factories import dss_header, register_plate

    return register_plate(
        dss_header(359.456, -32.59, survey="DSS1", plate_id="04IN"),
        survey="DSS1",
        band="B",
        online=False,
    )
