"""Which user a sign-in at the institute's provider opens: found by subject, linked through
a confirmed address, or made new.

1. The provider's (issuer, subject) names a linked user: that user, whatever address the
   provider gives now (an address change there neither orphans nor moves the account).
2. Otherwise the provider must vouch for the address (``email_verified`` true). A user who
   *confirmed* that address here is linked to the subject, unless already linked to another
   subject of the same provider (a recycled or reassigned address at the provider must not
   take over the account). Usernames are never compared: a username equal to the address
   proves nothing.
3. Otherwise a new active user with that verified address and no local password is made,
   within the registration limits. An unconfirmed registration of the same address (never
   proven by anyone) gives way to the person the provider vouches for.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import EmailAddress, OidcIdentity, User
from accounts.services import (
    AccountError,
    _address_taken,  # registration's own rule for a taken address
    _registration_limits,  # the same limits as self-registration
    _take,
)


class SignInError(Exception):
    """A user-facing reason why this sign-in opens no account."""


def _verified(claims: dict[str, Any]) -> bool:
    # Some providers send the boolean as a string.
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _valid_email(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return len(email) <= 254


def _profile(claims: dict[str, Any]) -> dict[str, str]:
    first, last = str(claims.get("given_name") or ""), str(claims.get("family_name") or "")
    name_claim = settings.DSSPORTAL_OIDC_NAME_CLAIM
    if not (first or last) and name_claim and claims.get(name_claim):
        first, _, last = str(claims[name_claim]).strip().rpartition(" ")
        if not first:
            first, last = last, ""
    affiliation_claim = settings.DSSPORTAL_OIDC_AFFILIATION_CLAIM
    affiliation = claims.get(affiliation_claim) if affiliation_claim else ""
    if isinstance(affiliation, list):
        affiliation = ", ".join(str(a) for a in affiliation)
    return {
        "first_name": first[:150],
        "last_name": last[:150],
        "affiliation": str(affiliation or "")[:200],
    }


def _username(*, email: str, issuer: str, subject: str) -> str:
    """The address itself when it fits and is free (usernames that look like addresses must
    be the user's own address), else a name made from the subject."""
    if len(email) <= 150 and not User.objects.filter(username__iexact=email).exists():
        return email
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:12]
    return f"sso-{digest}"


def _release_unconfirmed(email: str) -> None:
    """Forget every unconfirmed claim on ``email`` (and a never-opened account that had only
    that): the provider has just shown who owns the address."""
    for stale in EmailAddress.objects.filter(email__iexact=email, verified=False).select_related(
        "user"
    ):
        user = stale.user
        stale.delete()
        if not user.is_active and user.last_login is None and not user.addresses.exists():
            user.delete()


def _record_link(user: User, *, issuer: str, subject: str, email: str) -> None:
    OidcIdentity.objects.create(
        user=user,
        issuer=issuer,
        subject=subject,
        email_at_link=email,
        last_login_at=timezone.now(),
    )


def _link(user: User, *, issuer: str, subject: str, email: str) -> User:
    if not user.is_active:
        raise SignInError(
            "The account with this address is closed; ask the archive's staff to reopen it."
        )
    linked = OidcIdentity.objects.filter(user=user, issuer=issuer).first()
    if linked is not None and linked.subject == subject:
        # A concurrent first sign-in of this same person (another tab) linked it after this
        # one looked the subject up.
        return user
    if linked is not None:
        raise SignInError(
            f"Your account here is linked to another identity at {settings.DSSPORTAL_OIDC_LABEL}, "
            "not to the one you signed in with. Sign in with that identity, or ask the archive's "
            "staff to move the link."
        )
    _record_link(user, issuer=issuer, subject=subject, email=email)
    return user


def _create(
    *, issuer: str, subject: str, email: str, claims: dict[str, Any], client_address: str | None
) -> User:
    try:
        for key, limit in _registration_limits(client_address):
            _take(key, limit)
    except AccountError as exc:
        raise SignInError(str(exc)) from None
    # Taking the limits waited for a concurrent first sign-in holding their rows; if it was
    # this same person's (another tab), its account is the one.
    made_meanwhile = (
        OidcIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    )
    if made_meanwhile is not None:
        return made_meanwhile.user
    _release_unconfirmed(email)
    if _address_taken(email):
        raise SignInError(
            f"The address {email} belongs to an account here that is not confirmed in a way "
            "that lets us link it; ask the archive's staff."
        )
    user = User(
        username=_username(email=email, issuer=issuer, subject=subject),
        email=email,
        is_active=True,
        **_profile(claims),
    )
    user.set_unusable_password()
    user.save()
    EmailAddress.objects.create(
        user=user, email=email, verified=True, primary=True, verified_at=timezone.now()
    )
    _record_link(user, issuer=issuer, subject=subject, email=email)
    return user


def _user_for_new_subject(
    *, issuer: str, subject: str, claims: dict[str, Any], client_address: str | None
) -> User:
    email = str(claims.get("email") or "").strip()
    if not _valid_email(email):
        raise SignInError(
            f"{settings.DSSPORTAL_OIDC_LABEL} did not tell us a usable e-mail address; the "
            "archive needs one to send your results. Allow the portal to read it, or register "
            "here."
        )
    if not _verified(claims):
        raise SignInError(
            f"{settings.DSSPORTAL_OIDC_LABEL} has not confirmed your e-mail address {email}. "
            "Confirm it there first, or register here with a password."
        )
    confirmed = (
        EmailAddress.objects.select_related("user")
        .select_for_update()
        .filter(email__iexact=email, verified=True)
        .first()
    )
    if confirmed is not None:
        return _link(confirmed.user, issuer=issuer, subject=subject, email=email)
    return _create(
        issuer=issuer, subject=subject, email=email, claims=claims, client_address=client_address
    )


def oidc_user(
    *, issuer: str, subject: str, claims: dict[str, Any], client_address: str | None = None
) -> User:
    """The user this provider sign-in opens (linked or made here); records the sign-in.

    Raises
    ------
    SignInError
        An unverified or missing address for a subject not linked yet, a closed account, an
        account linked to another subject, or a registration limit reached.
    """
    for attempt in range(2):
        try:
            with transaction.atomic():
                identity = (
                    OidcIdentity.objects.select_related("user")
                    .select_for_update()
                    .filter(issuer=issuer, subject=subject)
                    .first()
                )
                if identity is not None:
                    if not identity.user.is_active:
                        raise SignInError(
                            "Your account here is closed; ask the archive's staff to reopen it."
                        )
                    identity.last_login_at = timezone.now()
                    identity.save(update_fields=["last_login_at"])
                    return identity.user
                return _user_for_new_subject(
                    issuer=issuer, subject=subject, claims=claims, client_address=client_address
                )
        except IntegrityError:
            # A concurrent first sign-in of the same person made the link or the user; the
            # second pass finds it.
            if attempt:
                raise SignInError(
                    "Your account could not be set up just now; please sign in again."
                ) from None
    raise AssertionError("unreachable")
