"""Log in with the username or any verified address, for the web and for FTP alike."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.models import EmailAddress, User


def user_for_login(login: str) -> User | None:
    """The user a login name designates: a username, else a verified address (any case)."""
    login = login.strip()
    if not login:
        return None
    user = User.objects.filter(username=login).first()
    if user is None and "@" in login:
        address = (
            EmailAddress.objects.select_related("user")
            .filter(email__iexact=login, verified=True)
            .first()
        )
        user = address.user if address else None
    return user


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        user = user_for_login(username)
        if user is None:
            # Spend the same time as a real check so that timing does not reveal names.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
