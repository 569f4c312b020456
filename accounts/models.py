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
            # Among active accounts only: a registration waiting for its confirmation holds
            # no address (it would let anyone squat on another person's address).
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_unique",
                condition=models.Q(is_active=True),
            ),
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
            # One owner per confirmed address; unconfirmed claims block nobody (each user may
            # claim an address once, and the first to confirm it owns it).
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_address_email_ci_unique",
                condition=models.Q(verified=True),
            ),
            models.UniqueConstraint(
                Lower("email"), "user", name="accounts_address_user_email_ci_unique"
            ),
        ]
        indexes = [models.Index(fields=["user", "verified"], name="accounts_address_user_ver")]

    def __str__(self) -> str:
        return f"{self.email} ({'verified' if self.verified else 'unverified'})"


class ApiToken(models.Model):
    """A secret a script sends as ``Authorization: Bearer <token>``.

    Only the SHA-256 of the token is stored: the token itself is shown once, when made. The
    token is 256 random bits, so a fast hash is enough (nothing to brute-force).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=64, blank=True, help_text="What the token is for.")
    key_hash = models.CharField("SHA-256 of the token", max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise it.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="accounts_token_user_live")]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def live(self) -> bool:
        return self.revoked_at is None


class OidcIdentity(models.Model):
    """The user's account at the institute's OpenID Connect provider: its issuer and subject.

    Later sign-ins find the user by (issuer, subject), never by address: a user whose address
    changes at the provider keeps their account, and someone who takes over an address there
    does not get it. One identity per user and issuer.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="oidc_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    email_at_link = models.EmailField(
        "address when linked", blank=True, help_text="The provider's address at first sign-in."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OpenID Connect identity"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="accounts_oidc_subject"),
            models.UniqueConstraint(fields=["user", "issuer"], name="accounts_oidc_one_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class AppPassword(models.Model):
    """A named password for FTP and HTTP Basic, made by its owner (who may have no local
    password, signing in through the provider) and revocable on its own.

    The password is ``dssapp-`` + an 8-character public id + a 32-character secret; only the
    public id (to find the row without trying every hash) and a Django password hash of the
    whole password are stored. It is shown once, when made.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="app_passwords")
    label = models.CharField(max_length=64, help_text="What the password is for.")
    public_id = models.CharField(max_length=16, unique=True)
    password_hash = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "app password"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="accounts_apppw_user_live")]

    def __str__(self) -> str:
        return f"{self.label} (dssapp-{self.public_id}…)"

    @property
    def live(self) -> bool:
        return self.revoked_at is None
