"""Writes on accounts: creating users, registering with a confirmed address, more addresses."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import EmailAddress, User

#: How long a confirmation link stays valid; an unconfirmed address older than this may be
#: registered again by someone else (so that nobody can squat on another person's address).
CONFIRMATION_MAX_AGE = timedelta(days=3)
_SALT = "accounts.address-confirmation"


class AccountError(Exception):
    """A user-facing reason why an account could not be created or changed."""


def _clean_email(email: str) -> str:
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise AccountError(f"{email!r} is not a valid e-mail address.") from None
    return email


def _release_stale_unconfirmed(email: str) -> None:
    """Forget an address nobody confirmed in time, and its user if that was all it had."""
    cutoff = timezone.now() - CONFIRMATION_MAX_AGE
    for stale in EmailAddress.objects.filter(
        email__iexact=email, verified=False, created_at__lt=cutoff
    ).select_related("user"):
        user = stale.user
        stale.delete()
        if not user.is_active and not user.addresses.exists():
            user.delete()


def _address_taken(email: str) -> bool:
    _release_stale_unconfirmed(email)
    return (
        User.objects.filter(email__iexact=email).exists()
        or EmailAddress.objects.filter(email__iexact=email).exists()
    )


def _check_username(username: str) -> None:
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        reasons = " ".join(exc.messages)
        raise AccountError(f"Username {username!r} is not allowed: {reasons}") from None
    if User.objects.filter(username__iexact=username).exists():
        raise AccountError(f"A user named {username!r} already exists.")


def _new_user(
    *,
    username: str,
    email: str,
    password: str,
    active: bool,
    quota_mb: int | None,
    is_staff: bool,
    check_password_strength: bool,
) -> tuple[User, EmailAddress]:
    email = _clean_email(email)
    _check_username(username)
    if _address_taken(email):
        raise AccountError(f"The address {email} is already registered to another user.")
    user = User(username=username, email=email, is_active=active, is_staff=is_staff)
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
            address = EmailAddress.objects.create(
                user=user,
                email=email,
                verified=active,
                primary=True,
                verified_at=timezone.now() if active else None,
            )
    except IntegrityError:
        # A concurrent registration won the race for the same name or address.
        raise AccountError(
            f"The username {username!r} or address {email} is already taken."
        ) from None
    return user, address


def user_create(
    *,
    username: str,
    email: str,
    password: str,
    quota_mb: int | None = None,
    is_staff: bool = False,
    check_password_strength: bool = False,
) -> User:
    """Create an active user whose ``email`` is a verified sender address (operators' path).

    Raises
    ------
    AccountError
        When the username or the address is taken, the address is malformed, or the
        password is refused.
    """
    user, _ = _new_user(
        username=username,
        email=email,
        password=password,
        active=True,
        quota_mb=quota_mb,
        is_staff=is_staff,
        check_password_strength=check_password_strength,
    )
    return user


def confirmation_token(address: EmailAddress) -> str:
    """A signed, expiring token naming the address (its row and its exact text)."""
    return signing.dumps({"id": address.pk, "email": address.email.lower()}, salt=_SALT)


def _send_confirmation(address: EmailAddress, *, new_account: bool) -> None:
    link = settings.DSSPORTAL_PUBLIC_URL + reverse(
        "confirm-address", args=[confirmation_token(address)]
    )
    days = CONFIRMATION_MAX_AGE.days
    what = (
        "to open your account of the Digitized Sky Survey archive"
        if new_account
        else f"to send DSS requests from {address.email}"
    )
    body = (
        f"Hello {address.user.username},\n\n"
        f"Please confirm this address {what} by opening\n\n  {link}\n\n"
        f"The link is valid for {days} days. If you did not ask for this, ignore this "
        f"message:\nnothing happens without the confirmation.\n"
    )
    EmailMessage(
        subject="Confirm your address for the DSS archive",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address.email],
        headers={"Auto-Submitted": "auto-generated"},
    ).send()


def user_register(*, username: str, email: str, password: str) -> User:
    """Self-registration: an inactive account until the address is confirmed by mail."""
    user, address = _new_user(
        username=username,
        email=email,
        password=password,
        active=False,
        quota_mb=None,
        is_staff=False,
        check_password_strength=True,
    )
    _send_confirmation(address, new_account=True)
    return user


def address_add(*, user: User, email: str) -> EmailAddress:
    """Another sender address for ``user``; it counts once confirmed by mail."""
    email = _clean_email(email)
    if _address_taken(email):
        raise AccountError(f"The address {email} is already registered.")
    try:
        address = EmailAddress.objects.create(user=user, email=email, verified=False)
    except IntegrityError:
        raise AccountError(f"The address {email} is already registered.") from None
    _send_confirmation(address, new_account=False)
    return address


def address_confirm(*, token: str) -> EmailAddress:
    """Mark the address a token names as verified (and open its account if new).

    Raises
    ------
    AccountError
        For an expired, altered or outdated link.
    """
    try:
        payload = signing.loads(token, salt=_SALT, max_age=CONFIRMATION_MAX_AGE)
    except signing.SignatureExpired:
        raise AccountError(
            f"This confirmation link has expired (links are valid {CONFIRMATION_MAX_AGE.days} "
            "days); register or add the address again to get a new one."
        ) from None
    except signing.BadSignature:
        raise AccountError("This confirmation link is not valid; copy the whole link.") from None
    with transaction.atomic():
        address = (
            EmailAddress.objects.select_related("user")
            .select_for_update()
            .filter(pk=payload.get("id"), email__iexact=payload.get("email", ""))
            .first()
        )
        if address is None:
            raise AccountError("This address is no longer registered; register it again.")
        if not address.verified:
            address.verified = True
            address.verified_at = timezone.now()
            address.save(update_fields=["verified", "verified_at"])
        user = address.user
        if address.primary and not user.is_active and user.last_login is None:
            user.is_active = True
            user.save(update_fields=["is_active"])
    return address
