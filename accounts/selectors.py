"""Reads on accounts."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from accounts.models import EmailAddress, User


def user_for_sender(address: str) -> User | None:
    """The active user for whom ``address`` is a verified sender address, if any."""
    match = (
        EmailAddress.objects.select_related("user")
        .filter(email__iexact=address.strip(), verified=True, user__is_active=True)
        .first()
    )
    return match.user if match else None


def address_owner(email: str, *, other_than: User) -> User | None:
    """A user other than ``other_than`` whose primary or registered address ``email`` is,
    regardless of case."""
    owners = User.objects.filter(Q(email__iexact=email) | Q(addresses__email__iexact=email))
    return owners.exclude(pk=other_than.pk).first()


@dataclass(frozen=True)
class LoginRefusal:
    """Why a right password was refused, and the address waiting for its confirmation (the
    log-in page then offers to send the link again)."""

    reason: str
    unconfirmed_email: str | None = None


def login_refusal_reason(login: str, password: str) -> LoginRefusal | None:
    """Why a right password was refused: an address not confirmed yet, or a closed account.

    Said only to someone who knows the password, so it reveals nothing to a guesser.
    """
    login = login.strip()
    if not login or not password:
        return None
    candidates = User.objects.filter(is_active=False).filter(
        Q(username=login) | Q(addresses__email__iexact=login)
    )
    for user in candidates.distinct()[:5]:
        if not user.check_password(password):
            continue
        pending = user.addresses.filter(primary=True, verified=False).first()
        if pending is not None and user.last_login is None:
            return LoginRefusal(
                f"Please confirm your address first: open the link we mailed to {pending.email} "
                "when you registered.",
                unconfirmed_email=pending.email,
            )
        return LoginRefusal(
            "This account is closed. Write to the archive staff if you need it again."
        )
    return None
