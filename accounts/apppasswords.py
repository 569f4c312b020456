"""App passwords: named passwords for FTP and HTTP Basic, made on the account page or by
``manage.py app_password``, revoked there or in the admin.

A user who signs in through the institute's provider has no local password; an app password
is what their FTP client and scripts send instead. It is ``dssapp-`` + a public id (8 letters
and digits) + ``-`` + a secret (32); only the public id and a hash made by Django's password
hashers are stored, and the password is returned once, by :func:`app_password_create`.
App passwords open FTP and the API's HTTP Basic, never the log-in page: a leaked one cannot
be used to make more, or to change the account's addresses.
"""

from __future__ import annotations

import secrets
import string
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import AppPassword, User

PREFIX = "dssapp-"
_ALPHABET = string.ascii_letters + string.digits
_PUBLIC_ID_CHARS = 8
_SECRET_CHARS = 32
#: A user with this many live app passwords must revoke one before making another.
MAX_LIVE_APP_PASSWORDS = 20
#: ``last_used_at`` is written at most this often per password, not on every FTP log-in.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class AppPasswordError(Exception):
    """A user-facing reason why an app password could not be made."""


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _clean_label(label: str) -> str:
    label = " ".join(label.split())[:64]
    if not label:
        raise AppPasswordError("give the app password a name (what it is for, e.g. 'FileZilla').")
    return label


def app_password_create(*, user: User, label: str) -> tuple[AppPassword, str]:
    """A new app password for ``user``; returns the row and the password (shown once)."""
    label = _clean_label(label)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        live = AppPassword.objects.filter(user=user, revoked_at__isnull=True).count()
        if live >= MAX_LIVE_APP_PASSWORDS:
            raise AppPasswordError(
                f"you already have {MAX_LIVE_APP_PASSWORDS} live app passwords; revoke one you "
                "no longer use first."
            )
        public_id = _random(_PUBLIC_ID_CHARS)
        raw = f"{PREFIX}{public_id}-{_random(_SECRET_CHARS)}"
        row = AppPassword.objects.create(
            user=user, label=label, public_id=public_id, password_hash=make_password(raw)
        )
    return row, raw


def app_password_revoke(*, user: User, app_password_id: int) -> bool:
    """Revoke one of ``user``'s app passwords; False when they have no such live one."""
    return app_passwords_revoke(AppPassword.objects.filter(pk=app_password_id, user=user)) == 1


def app_passwords_revoke(app_passwords: QuerySet[AppPassword]) -> int:
    """Revoke the live ones among ``app_passwords`` (the admin's action); returns how many."""
    return app_passwords.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def _public_id(raw: str) -> str | None:
    if not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    public_id, sep, secret = raw[len(PREFIX) :].partition("-")
    if not sep or len(public_id) != _PUBLIC_ID_CHARS or len(secret) != _SECRET_CHARS:
        return None
    return public_id


def app_password_matches(*, user: User, raw: str) -> bool:
    """Whether ``raw`` is a live app password of ``user`` (its last use is recorded).

    One hash check at most: the public id inside the password names the only row to try.
    """
    public_id = _public_id(raw)
    if public_id is None:
        return False
    row = AppPassword.objects.filter(
        user=user, public_id=public_id, revoked_at__isnull=True
    ).first()
    if row is None or not check_password(raw, row.password_hash):
        return False
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        AppPassword.objects.filter(pk=row.pk).update(last_used_at=now)
    return True
