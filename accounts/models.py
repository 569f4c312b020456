"""SMOKA users of the portal: accounts, their registered mail addresses and staging quota."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


def default_quota_mb() -> int:
    return int(settings.DSSPORTAL_DEFAULT_QUOTA_MB)


class User(AbstractUser):
    """A registered user. ``email`` is the primary address, unique without regard to case."""

    email = models.EmailField("primary e-mail address")
    quota_mb = models.PositiveIntegerField(
        "staging quota (MB)",
        default=default_quota_mb,
        help_text="Space this user's staging directories may take together.",
    )
    affiliation = models.CharField(
        max_length=200, blank=True, help_text="Institute or observatory, as given at registration."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    @property
    def quota_bytes(self) -> int:
        return int(self.quota_mb) * 1_000_000

    @property
    def staging_area(self) -> str:
        """This user's folder under the staging root. Built from the primary key, never from
        the username, which may contain dots and could otherwise name a path like ``..``."""
        return f"user-{self.pk}"


class ThrottleCounter(models.Model):
    """One counter of the abuse limits (failed log-ins, registrations, mails to an address).

    Kept in the database, not in a per-process cache: every gunicorn worker, FTP thread and
    host of the portal shares the database, and a row lock makes counting atomic on SQLite
    and PostgreSQL alike (see :mod:`accounts.throttle`).
    """

    key = models.CharField(max_length=100, unique=True)
    count = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    last_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class EmailAddress(models.Model):
    """An address a user may send requests from. Only verified addresses count as senders."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses")
    email = models.EmailField()
    verified = models.BooleanField(default=False)
    primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "e-mail address"
        verbose_name_plural = "e-mail addresses"
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_address_email_ci_unique"),
        ]
        indexes = [models.Index(fields=["user", "verified"], name="accounts_address_user_ver")]

    def __str__(self) -> str:
        return f"{self.email} ({'verified' if self.verified else 'unverified'})"
