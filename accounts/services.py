"""Writes on accounts: creating users and their addresses."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import EmailAddress, User


class AccountError(Exception):
    """A user-facing reason why an account could not be created or changed."""


def _address_taken(email: str) -> bool:
    return (
        User.objects.filter(email__iexact=email).exists()
        or EmailAddress.objects.filter(email__iexact=email).exists()
    )


def user_create(
    *,
    username: str,
    email: str,
    password: str,
    quota_mb: int | None = None,
    is_staff: bool = False,
    check_password_strength: bool = False,
) -> User:
    """Create an active user whose ``email`` is a verified sender address.

    Raises
    ------
    AccountError
        When the username or the address is taken, the address is malformed, or the
        password is refused.
    """
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise AccountError(f"{email!r} is not a valid e-mail address.") from None
    username_field = User._meta.get_field("username")
    try:
        username_field.run_validators(username)
    except ValidationError as exc:
        reasons = " ".join(exc.messages)
        raise AccountError(f"Username {username!r} is not allowed: {reasons}") from None
    if User.objects.filter(username__iexact=username).exists():
        raise AccountError(f"A user named {username!r} already exists.")
    if _address_taken(email):
        raise AccountError(f"The address {email} is already registered to another user.")
    user = User(username=username, email=email, is_active=True, is_staff=is_staff)
    if quota_mb is not None:
        if quota_mb < 0:
            raise AccountError("The quota cannot be negative.")
        user.quota_mb = quota_mb
    if check_password_strength:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise AccountError(" ".join(exc.messages)) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            EmailAddress.objects.create(
                user=user, email=email, verified=True, primary=True, verified_at=timezone.now()
            )
    except IntegrityError:
        # A concurrent registration won the race for the same name or address.
        raise AccountError(
            f"The username {username!r} or address {email} is already taken."
        ) from None
    return user
