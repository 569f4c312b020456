"""App passwords on the account page: make one (shown once, after a redirect), revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts import apppasswords
from accounts.models import AppPassword, User


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


#: Session key holding a new app password until the one page that shows it has been rendered.
_NEW_APP_PASSWORD_KEY = "app_password_to_show"


@login_required
@require_POST
def app_password_create(request: HttpRequest) -> HttpResponse:
    """Make an app password, then redirect (POST/redirect/GET): reloading the page that shows
    it never makes a second one."""
    try:
        row, raw = apppasswords.app_password_create(
            user=_user(request), label=request.POST.get("label", "")
        )
    except apppasswords.AppPasswordError as exc:
        messages.error(request, str(exc)[:1].upper() + str(exc)[1:])
        return redirect("account")
    request.session[_NEW_APP_PASSWORD_KEY] = {"id": row.pk, "raw": raw}
    return redirect("app-password-created")


@login_required
@require_GET
def app_password_created(request: HttpRequest) -> HttpResponse:
    """The new app password, shown once: taken out of the session as the page is made, and
    the page is not cached, so a reload or the back button does not show it again."""
    shown = request.session.pop(_NEW_APP_PASSWORD_KEY, None)
    row = AppPassword.objects.filter(pk=shown["id"], user=_user(request)).first() if shown else None
    if row is None:
        messages.info(
            request,
            "An app password is shown only once, right after it is made; make a new one if you "
            "did not copy it (and revoke the old one).",
        )
        return redirect("account")
    response = render(
        request,
        "registration/app_password_created.html",
        {"app_password": row, "raw": shown["raw"]},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def app_password_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if apppasswords.app_password_revoke(user=_user(request), app_password_id=pk):
        messages.success(request, "The app password was revoked; FTP and scripts using it stop.")
    else:
        messages.error(request, "You have no such live app password.")
    return redirect("account")
