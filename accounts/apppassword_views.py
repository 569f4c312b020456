"""App passwords on the account page: make one (shown once, after a redirect), revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from accounts import apppasswords
from accounts.models import AppPassword, User
from accounts.shown_once import secret_keep, secret_page


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


#: Session key holding a new app password until the one page that shows it has been rendered.
_NEW_APP_PASSWORD_KEY = "app_password_to_show"


@login_required
@require_POST
def app_password_create(request: HttpRequest) -> HttpResponse:
    """Make an app password, then show it once after a redirect (:mod:`accounts.shown_once`)."""
    try:
        row, raw = apppasswords.app_password_create(
            user=_user(request), label=request.POST.get("label", "")
        )
    except apppasswords.AppPasswordError as exc:
        messages.error(request, str(exc)[:1].upper() + str(exc)[1:])
        return redirect("account")
    return secret_keep(
        request, key=_NEW_APP_PASSWORD_KEY, row=row, raw=raw, then="app-password-created"
    )


@login_required
@require_GET
def app_password_created(request: HttpRequest) -> HttpResponse:
    return secret_page(
        request,
        key=_NEW_APP_PASSWORD_KEY,
        rows=AppPassword.objects.filter(user=_user(request)),
        template="registration/app_password_created.html",
        name="app_password",
        what="An app password",
    )


@login_required
@require_POST
def app_password_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if apppasswords.app_password_revoke(user=_user(request), app_password_id=pk):
        messages.success(request, "The app password was revoked; FTP and scripts using it stop.")
    else:
        messages.error(request, "You have no such live app password.")
    return redirect("account")
