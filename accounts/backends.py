"""Log in with the username or any verified address: the one password check that the web
pages, the admin, the API (HTTP Basic) and the FTP server share, throttled in one place.
FTP and HTTP Basic also accept the user's app passwords (:mod:`accounts.apppasswords`)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.apppasswords import app_password_matches
from accounts.models import EmailAddress, User
from accounts.throttle import account_key, client_address, login_attempt_start, login_succeeded


def user_for_login(login: str) -> User | None:
    """The user a login name designates.

    A login that looks like an address names the user who *confirmed* that address, whatever
    usernames exist: someone who registered another person's address as a username must not
    shadow that person's log-in. Only when no user confirmed it does the exact username count
    (accounts made before usernames had to be the user's own confirmed address).
    """
    login = login.strip()
    if not login:
        return None
    if "@" in login:
        address = (
            EmailAddress.objects.select_related("user")
            .filter(email__iexact=login, verified=True)
            .first()
        )
        if address is not None:
            return address.user
    return User.objects.filter(username=login).first()


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        remote_address: str | None = None,
        allow_app_password: bool = False,
        **kwargs: Any,
    ) -> User | None:
        """Raises :class:`accounts.throttle.LoginThrottled` when the account or the client's
        address has failed too often lately; callers turn it into a message (web form), a 429
        (API) or an FTP refusal. ``remote_address`` names the client where there is no
        HTTP request (FTP). ``allow_app_password`` (FTP, HTTP Basic) accepts an app password
        as well as the account's password; the log-in page never does."""
        if username is None or password is None:
            return None
        address = remote_address or client_address(request)
        user = user_for_login(username)
        account = account_key(user=user, login=username)
        login_attempt_start(account=account, address=address)
        if user is None:
            # Spend the same time as a real check so that timing does not reveal names.
            User().set_password(password)
            return None
        right = user.check_password(password) or (
            allow_app_password and app_password_matches(user=user, raw=password)
        )
        if right and self.user_can_authenticate(user):
            login_succeeded(account=account, address=address)
            return user
        return None
