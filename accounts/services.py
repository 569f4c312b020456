"""Writes on accounts: creating users, registering with a confirmed address, more addresses.

Registration answers the same "check your mail" whether or not the address already has an
account (the owner is told by mail instead), and is limited per client address, in all, and
in the number of messages any one address receives a day.
"""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import EmailAddress, User
from accounts.throttle import (
    Limit,
    RateLimited,
    address_key,
    address_known_for_user,
    login_failures_forget,
    rate_limit_take,
)
from accounts.usernames import latin_skeleton, username_look_problem
from dssportal.infra import emails

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
    """Whether ``email`` belongs to someone: a confirmed address, or the primary address of
    an active account. A claim waiting for its confirmation blocks nobody."""
    _release_stale_unconfirmed(email)
    return (
        User.objects.filter(email__iexact=email, is_active=True).exists()
        or EmailAddress.objects.filter(email__iexact=email, verified=True).exists()
    )


def _pending_account(user: User) -> bool:
    """A registration nobody confirmed: never opened, no confirmed address."""
    return (
        not user.is_active
        and user.last_login is None
        and not user.addresses.filter(verified=True).exists()
    )


def _release_address_username(username: str) -> None:
    """An address-like username is the address itself: a registration of it that nobody
    confirmed must not keep the address's owner from registering it."""
    if "@" not in username:
        return
    for holder in User.objects.filter(username__iexact=username):
        if _pending_account(holder):
            holder.delete()


def _check_username(username: str, *, email: str) -> str:
    """The username as it will be stored (NFKC), or the reason it cannot be used.

    Format and look (including lookalikes of existing names); whether the exact name is
    taken is decided by the caller, which may have to answer neutrally.
    """
    username = unicodedata.normalize("NFKC", username.strip())
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        reasons = " ".join(exc.messages)
        raise AccountError(f"Username {username!r} is not allowed: {reasons}") from None
    if "@" in username and username.casefold() != email.strip().casefold():
        raise AccountError(
            f"A username that looks like an e-mail address must be the address you register "
            f"with ({email.strip()}); choose another username, or log in with {username} once "
            "it is confirmed as one of your addresses."
        )
    problem = username_look_problem(username)
    if problem:
        raise AccountError(f"Username {username!r} is not allowed: {problem}")
    lookalike = latin_skeleton(username)
    if (
        lookalike != username.casefold()
        and User.objects.filter(username__iexact=lookalike).exists()
    ):
        raise AccountError(
            f"Username {username!r} is not allowed: it looks like the existing username "
            f"{lookalike!r} but is written with other letters."
        )
    return username


def _username_taken(username: str) -> bool:
    return User.objects.filter(username__iexact=username).exists()


def _registration_limits(client_address: str | None) -> list[tuple[str, Limit]]:
    site_wide = (
        "register:all",
        Limit(
            int(settings.DSSPORTAL_REGISTRATIONS_PER_HOUR),
            timedelta(hours=1),
            "The archive receives unusually many registrations right now.",
        ),
    )
    return [site_wide, *_per_address_limits(client_address)]


def _per_address_limits(
    client_address: str | None, *, what: str = "registrations"
) -> list[tuple[str, Limit]]:
    if not client_address:
        return []
    return [
        (
            f"register:{address_key(client_address)}",
            Limit(
                int(settings.DSSPORTAL_REGISTRATIONS_PER_ADDRESS_PER_HOUR),
                timedelta(hours=1),
                f"Too many {what} from your network in the last hour.",
            ),
        )
    ]


def _take(key: str, limit: Limit) -> None:
    try:
        rate_limit_take(key=key, limit=limit)
    except RateLimited as exc:
        raise AccountError(str(exc)) from None


def _take_mail_to(email: str, *, purpose: str = "mailto") -> None:
    """Count one message to ``email``; refuse beyond the daily number, whoever asks and
    whether or not the address has an account (so the refusal reveals nothing).

    Each ``purpose`` has its own daily budget: the confirmations and notices that others'
    registrations cause (``mailto``) never use up the owner's password-reset mails
    (``reset``)."""
    _take(
        f"{purpose}:" + email.casefold()[:90],
        Limit(
            int(settings.DSSPORTAL_MAILS_PER_RECIPIENT_PER_DAY),
            timedelta(days=1),
            f"We have already sent {email} as many messages today as we send to one address.",
        ),
    )


def _new_user(
    *,
    username: str,
    email: str,
    password: str,
    active: bool,
    quota_mb: int | None,
    is_staff: bool,
    profile: dict[str, str],
) -> tuple[User, EmailAddress]:
    user = User(username=username, email=email, is_active=active, is_staff=is_staff, **profile)
    if quota_mb is not None:
        if quota_mb < 0:
            raise AccountError("The quota cannot be negative.")
        user.quota_mb = quota_mb
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


def _check_password(password: str, *, username: str, email: str, profile: dict[str, str]) -> None:
    try:
        validate_password(password, User(username=username, email=email, **profile))
    except ValidationError as exc:
        raise AccountError(" ".join(exc.messages)) from None


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
    email = _clean_email(email)
    username = _check_username(username, email=email)
    if _username_taken(username):
        raise AccountError(f"A user named {username!r} already exists.")
    if _address_taken(email):
        raise AccountError(f"The address {email} is already registered to another user.")
    if check_password_strength:
        _check_password(password, username=username, email=email, profile={})
    user, _ = _new_user(
        username=username,
        email=email,
        password=password,
        active=True,
        quota_mb=quota_mb,
        is_staff=is_staff,
        profile={},
    )
    return user


def confirmation_token(address: EmailAddress) -> str:
    """A signed, expiring token naming the address (its row and its exact text)."""
    return signing.dumps({"id": address.pk, "email": address.email.lower()}, salt=_SALT)


def _public_url(name: str, *args: object) -> str:
    return settings.DSSPORTAL_PUBLIC_URL + reverse(name, args=args)


#: Mails of the account pages are not replies to anything (RFC 3834).
AUTO_GENERATED_HEADERS = {"Auto-Submitted": "auto-generated"}


def _send_confirmation(address: EmailAddress, *, new_account: bool) -> None:
    context = {
        "address": address,
        "new_account": new_account,
        "link": _public_url("confirm-address", confirmation_token(address)),
        "valid_days": CONFIRMATION_MAX_AGE.days,
        "valid_until": address.created_at + CONFIRMATION_MAX_AGE,
    }
    emails.send(
        "confirm-address", to=address.email, context=context, headers=AUTO_GENERATED_HEADERS
    )


def _send_already_registered(email: str, *, claimed: bool = False) -> None:
    """Tell the owner of an address that someone tried to register it again."""
    address = (
        EmailAddress.objects.select_related("user")
        .filter(email__iexact=email, verified=True)
        .first()
    )
    owner = address.user if address is not None else None
    context = {
        "email": email,
        "claimed": claimed,
        "owner": owner or User.objects.filter(email__iexact=email, is_active=True).first(),
        "login_url": _public_url("login"),
        "reset_url": _public_url("password_reset"),
    }
    emails.send("already-registered", to=email, context=context, headers=AUTO_GENERATED_HEADERS)


def user_register(
    *,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    affiliation: str = "",
    client_address: str | None = None,
) -> None:
    """Self-registration: an inactive account until the address is confirmed by mail.

    The answer does not depend on whether the address is registered already: then no account
    is made and the address's owner gets a notice instead of a confirmation link.

    Raises
    ------
    AccountError
        For a refused username or password, a malformed address, a username that is taken,
        or when a registration limit is reached.
    """
    email = _clean_email(email)
    username = _check_username(username, email=email)
    profile = {"first_name": first_name, "last_name": last_name, "affiliation": affiliation}
    _check_password(password, username=username, email=email, profile=profile)
    # An address-like username is the address itself: whether it is taken is the address's
    # secret, answered like the address below.
    if "@" not in username and _username_taken(username):
        raise AccountError(f"A user named {username!r} already exists.")
    for key, limit in _registration_limits(client_address):
        _take(key, limit)
    _take_mail_to(email)
    if _address_taken(email):
        _send_already_registered(email)
        return
    _release_address_username(username)
    if _username_taken(username):  # a concurrent registration of the same address-like name
        _send_already_registered(email)
        return
    _, address = _new_user(
        username=username,
        email=email,
        password=password,
        active=False,
        quota_mb=None,
        is_staff=False,
        profile=profile,
    )
    _send_confirmation(address, new_account=True)


def confirmation_resend(*, email: str, client_address: str | None = None) -> None:
    """Mail the confirmation link of an address awaiting confirmation again.

    Answers nothing about the address: unknown, confirmed and pending ones look alike to
    the caller. The link stays valid only until the original registration expires.

    Raises
    ------
    AccountError
        For a malformed address, or when a limit is reached.
    """
    email = _clean_email(email)
    _release_stale_unconfirmed(email)
    for key, limit in _registration_limits(client_address):
        _take(key.replace("register:", "resend:"), limit)
    _take_mail_to(email)
    address = (
        EmailAddress.objects.select_related("user")
        .filter(email__iexact=email, verified=False)
        .order_by("-created_at")
        .first()
    )
    if address is not None and not _address_taken(email):
        new_account = address.primary and address.user.last_login is None
        _send_confirmation(address, new_account=new_account)


def address_add(*, user: User, email: str) -> EmailAddress:
    """Another sender address for ``user``; it counts once confirmed by mail.

    The answer never says whether the address is someone else's: the claim is recorded
    either way (it blocks nobody), and the address gets a confirmation link, or, when it
    is another account's confirmed address, a notice without a link.

    Raises
    ------
    AccountError
        For a malformed address, one that is the user's own already, more than
        ``DSSPORTAL_UNCONFIRMED_ADDRESSES_PER_USER`` claims waiting, or the mail limit.
    """
    email = _clean_email(email)
    if user.addresses.filter(email__iexact=email).exists():
        raise AccountError(f"{email} is already one of your addresses (see the list below).")
    waiting = user.addresses.filter(verified=False).count()
    most = int(settings.DSSPORTAL_UNCONFIRMED_ADDRESSES_PER_USER)
    if waiting >= most:
        raise AccountError(
            f"You have {waiting} addresses waiting for their confirmation; confirm them, or "
            f"wait until they expire ({CONFIRMATION_MAX_AGE.days} days), before adding more."
        )
    taken = _address_taken(email)
    _take_mail_to(email)
    try:
        address = EmailAddress.objects.create(user=user, email=email, verified=False)
    except IntegrityError:  # the same claim made twice at once
        raise AccountError(f"{email} is already one of your addresses.") from None
    if taken:
        _send_already_registered(email, claimed=True)
    else:
        _send_confirmation(address, new_account=False)
    return address


def confirmation_claim(*, token: str) -> EmailAddress:
    """The claim a confirmation link names, unchanged (the page that asks before confirming).

    Raises
    ------
    AccountError
        For an expired, altered or outdated link.
    """
    payload = _confirmation_payload(token)
    address = (
        EmailAddress.objects.select_related("user")
        .filter(pk=payload.get("id", 0), email__iexact=payload.get("email", ""))
        .first()
    )
    if address is None:
        raise AccountError("This address is no longer registered; register it again.")
    return address


def _confirmation_payload(token: str) -> dict[str, Any]:
    try:
        payload = signing.loads(token, salt=_SALT, max_age=CONFIRMATION_MAX_AGE)
    except signing.SignatureExpired:
        raise AccountError(
            f"This confirmation link has expired (links are valid {CONFIRMATION_MAX_AGE.days} "
            "days); register or add the address again to get a new one."
        ) from None
    except signing.BadSignature:
        raise AccountError("This confirmation link is not valid; copy the whole link.") from None
    return payload if isinstance(payload, dict) else {}


def address_confirm(*, token: str) -> EmailAddress:
    """Mark the address a token names as verified, and open its account if this is the
    confirmation of a new registration.

    Only the first confirmation of a never-used account's primary address opens it: opening
    the link again later does nothing, so an account that staff deactivated stays closed.

    Raises
    ------
    AccountError
        For an expired, altered or outdated link.
    """
    payload = _confirmation_payload(token)
    with transaction.atomic():
        address = (
            EmailAddress.objects.select_related("user")
            .select_for_update()
            .filter(pk=payload.get("id", 0), email__iexact=payload.get("email", ""))
            .first()
        )
        if address is None:
            raise AccountError("This address is no longer registered; register it again.")
        if address.verified:
            return address
        if _address_taken(address.email):
            raise AccountError(
                f"{address.email} was confirmed for another account meanwhile; it can belong "
                "to one account only."
            )
        address.verified = True
        address.verified_at = timezone.now()
        address.save(update_fields=["verified", "verified_at"])
        user = address.user
        if address.primary and not user.is_active and user.last_login is None:
            user.is_active = True
            user.save(update_fields=["is_active"])
        _drop_other_claims(address)
    return address


def _drop_other_claims(owned: EmailAddress) -> None:
    """The address is confirmed: other accounts' unconfirmed claims on it are void, and a
    registration that had nothing else goes with its claim."""
    others = EmailAddress.objects.filter(email__iexact=owned.email, verified=False).exclude(
        pk=owned.pk
    )
    for claim in others.select_related("user"):
        user = claim.user
        claim.delete()
        if _pending_account(user) and not user.addresses.exists():
            user.delete()


def password_reset_done(*, user: User) -> None:
    """A password set through a mailed reset link: the owner is known, the log-in delay ends."""
    login_failures_forget(user=user)


def password_reset_allow(*, email: str, client_address: str | None = None) -> None:
    """Count one password-reset request against the limit per client address and the daily
    reset mails to ``email``, whether or not it has an account.

    No site-wide limit: requests from many addresses must never stop one user's own reset.
    Others' requests can spend the address's daily reset budget, but what they spend is
    reset links mailed to the owner, each as good as the one the owner asked for; and a
    request from an address the account logged in from before is not counted against it.

    Raises
    ------
    AccountError
        When a limit is reached.
    """
    email = email.strip()
    for key, limit in _per_address_limits(client_address, what="password-reset requests"):
        _take(key.replace("register:", "reset:"), limit)
    if _reset_asked_from_known_address(email, client_address):
        return
    _take_mail_to(email, purpose="reset")


def _reset_asked_from_known_address(email: str, client_address: str | None) -> bool:
    if not client_address:
        return False
    owners = User.objects.filter(
        addresses__email__iexact=email, addresses__verified=True, is_active=True
    )
    return any(address_known_for_user(user=user, address=client_address) for user in owners)
