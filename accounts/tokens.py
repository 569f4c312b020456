"""API tokens: made on the account page or by ``manage.py api_token``, revoked there too.

A token is ``dss_`` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored;
the token is returned once, by :func:`api_token_create`, and never again.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, User

TOKEN_PREFIX = "dss_"
#: A token whose owner has this many live tokens cannot be joined by another (a typo loop in
#: a script, or a stolen session, should not mint thousands).
MAX_LIVE_TOKENS = 20
#: ``last_used_at`` is written at most this often per token, not on every API call.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    """A user-facing reason why a token could not be made."""


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the row and the token (shown to the user once)."""
    name = " ".join(name.split())[:64]
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_LIVE_TOKENS:
            raise TokenError(
                f"you already have {MAX_LIVE_TOKENS} live API tokens; revoke one you no longer "
                "use first."
            )
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken.objects.create(
            user=user, name=name, key_hash=_digest(raw), prefix=raw[: len(TOKEN_PREFIX) + 6]
        )
    return token, raw


def api_token_revoke(*, user: User, token_id: int) -> bool:
    """Revoke one of ``user``'s tokens; False when they have no such live token."""
    changed = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return changed == 1


def api_token_user(*, raw: str) -> User | None:
    """The active user a presented token belongs to, or None (unknown, revoked, inactive)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_digest(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
