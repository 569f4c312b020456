"""Reads on accounts."""

from __future__ import annotations

from accounts.models import EmailAddress, User


def user_for_sender(address: str) -> User | None:
    """The active user for whom ``address`` is a verified sender address, if any."""
    match = (
        EmailAddress.objects.select_related("user")
        .filter(email__iexact=address.strip(), verified=True, user__is_active=True)
        .first()
    )
    return match.user if match else None
